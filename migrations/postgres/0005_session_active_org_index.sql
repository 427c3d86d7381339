-- Deleting an organization clears it from every session that has it active.
CREATE INDEX "session_activeOrganizationId_idx" ON "session"("activeOrganizationId")
    WHERE "activeOrganizationId" IS NOT NULL;
