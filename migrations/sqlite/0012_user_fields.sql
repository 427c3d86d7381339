-- Custom user fields (USER_FIELDS): all of a user's in one JSON text column, so declaring a new
-- field needs no migration.
ALTER TABLE "user" ADD COLUMN "fields" TEXT NOT NULL DEFAULT '{}';
