//! Tables `organization` and `member`. Every change to an organization or its memberships holds
//! the organization's row lock ([`lock`]); the rules (who may do what, the last owner) are
//! `domain::roles`', applied here inside that lock.

use async_trait::async_trait;

use super::{
    Backend, Db, sessions,
    users::{JoinedUser, joined_user_columns},
};
use crate::{
    domain::{
        model::{MemberRow, OrganizationChanges, OrganizationRow, User},
        roles::{Denied, Leaving, MemberChange, Permission, Role, authorize, check_member_change},
    },
    store::{MemberTarget, Organizations, StoreResult, cache::Invalidation, classify},
};

type Conn = <Db as sqlx::Database>::Connection;

/// The `organization` table's columns, in `OrganizationRow`'s order.
macro_rules! organization_columns {
    () => {
        r#""id", "name", "slug", "logo", "metadata", "createdAt", "requireTwoFactor", "appId""#
    };
}

/// The `member` table's columns, in `MemberRow`'s order.
macro_rules! member_columns {
    () => {
        r#""id", "organizationId", "userId", "role", "createdAt""#
    };
}

const INSERT: &str = concat!(
    r#"INSERT INTO "organization" ("#,
    organization_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
);

const UPDATE: &str = concat!(
    r#"UPDATE "organization" SET "name" = COALESCE($2, "name"), "slug" = COALESCE($3, "slug"),
       "logo" = CASE WHEN $4 THEN $5 ELSE "logo" END, "metadata" = CASE WHEN $6 THEN $7 ELSE "metadata" END,
       "requireTwoFactor" = COALESCE($8, "requireTwoFactor")
 WHERE "id" = $1 RETURNING "#,
    organization_columns!()
);

const DELETE: &str =
    concat!(r#"DELETE FROM "organization" WHERE "id" = $1 RETURNING "#, organization_columns!());

/// A write that changes nothing: the row lock (on SQLite, the database's write lock).
const LOCK: &str = r#"UPDATE "organization" SET "name" = "name" WHERE "id" = $1"#;

const BY_ID_OR_SLUG: &str = concat!(
    "SELECT ",
    organization_columns!(),
    r#" FROM "organization" WHERE ("id" = $1 OR "slug" = $1) AND COALESCE("appId", '') = $2
 ORDER BY CASE WHEN "id" = $1 THEN 0 ELSE 1 END LIMIT 1"#
);

const OF_USER: &str = r#"
SELECT o.* FROM "organization" o JOIN "member" m ON m."organizationId" = o."id"
 WHERE m."userId" = $1 ORDER BY o."createdAt""#;

const INSERT_MEMBER: &str =
    concat!(r#"INSERT INTO "member" ("#, member_columns!(), ") VALUES ($1, $2, $3, $4, $5)");

const MEMBERSHIP: &str =
    concat!("SELECT ", member_columns!(), r#" FROM "member" WHERE "organizationId" = $1 AND "userId" = $2"#);

const MEMBERS_WITH_USERS: &str = concat!(
    "SELECT m.*, ",
    joined_user_columns!(),
    r#" FROM "member" m JOIN "user" u ON u."id" = m."userId" WHERE m."organizationId" = $1 ORDER BY m."createdAt""#
);

/// The caller (`$2`), the target (member id or email `$3`) and every owner (a superset: roles
/// are parsed in Rust), each with their email.
const CALLER_TARGET_AND_OWNERS: &str = r#"
SELECT m.*, u."email"
  FROM "member" m JOIN "user" u ON u."id" = m."userId"
 WHERE m."organizationId" = $1
   AND (m."userId" = $2 OR m."id" = $3 OR u."email" = $3 OR LOWER(m."role") LIKE '%owner%')"#;

const SET_ROLE: &str = r#"UPDATE "member" SET "role" = $2 WHERE "id" = $1"#;

const DELETE_MEMBER: &str = r#"DELETE FROM "member" WHERE "id" = $1"#;

const ORGANIZATIONS_OF_USER_IN_ORDER: &str =
    r#"SELECT "organizationId" FROM "member" WHERE "userId" = $1 ORDER BY "organizationId""#;

/// How many members of each role the user's organizations have.
const ROLE_COUNTS_IN_ORGANIZATIONS_OF: &str = r#"
SELECT m."organizationId", m."role", COUNT(*) FROM "member" m
 WHERE m."organizationId" IN (SELECT "organizationId" FROM "member" WHERE "userId" = $1)
 GROUP BY m."organizationId", m."role""#;

const ROLES_OF_USER: &str = r#"SELECT "organizationId", "role" FROM "member" WHERE "userId" = $1"#;

/// A member with their user's email (to find a member by email).
#[derive(sqlx::FromRow)]
struct MemberEmail {
    #[sqlx(flatten)]
    member: MemberRow,
    email: String,
}

/// A member joined with their user.
#[derive(sqlx::FromRow)]
struct MemberUser {
    #[sqlx(flatten)]
    member: MemberRow,
    #[sqlx(flatten)]
    user: JoinedUser,
}

/// Takes the organization's row lock, which serialises every change to it and its memberships.
/// False when there is no such organization.
pub(super) async fn lock(conn: &mut Conn, id: &str) -> StoreResult<bool> {
    let done = sqlx::query(LOCK).bind(id).execute(&mut *conn).await?;
    Ok(done.rows_affected() == 1)
}

pub(super) async fn membership_in<'e, E>(
    executor: E,
    organization_id: &str,
    user_id: &str,
) -> StoreResult<Option<MemberRow>>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    Ok(sqlx::query_as(MEMBERSHIP).bind(organization_id).bind(user_id).fetch_optional(executor).await?)
}

/// `Conflict` when the user already is a member.
pub(super) async fn insert_member<'e, E>(executor: E, m: &MemberRow) -> StoreResult<()>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    sqlx::query(INSERT_MEMBER)
        .bind(&m.id)
        .bind(&m.organization_id)
        .bind(&m.user_id)
        .bind(&m.role)
        .bind(m.created_at)
        .execute(executor)
        .await
        .map_err(classify)?;
    Ok(())
}

/// Deletes the organization (members and invitations cascade) after clearing it from the
/// sessions that have it active; the row as it was. Callers hold its lock first.
pub(super) async fn delete(conn: &mut Conn, id: &str) -> StoreResult<Option<OrganizationRow>> {
    sessions::clear_organization(&mut *conn, id, None).await?;
    Ok(sqlx::query_as(DELETE).bind(id).fetch_optional(&mut *conn).await?)
}

/// The organizations the user is in, in the one order their locks are taken.
pub(super) async fn of_user_in_order(conn: &mut Conn, user_id: &str) -> StoreResult<Vec<String>> {
    Ok(sqlx::query_scalar(ORGANIZATIONS_OF_USER_IN_ORDER).bind(user_id).fetch_all(&mut *conn).await?)
}

/// The user's memberships, each with its organization's head and owner counts (callers hold
/// the organizations' locks).
pub(super) async fn leaving(conn: &mut Conn, user_id: &str) -> StoreResult<Vec<Leaving>> {
    let counts: Vec<(String, String, i64)> =
        sqlx::query_as(ROLE_COUNTS_IN_ORGANIZATIONS_OF).bind(user_id).fetch_all(&mut *conn).await?;
    let mine: Vec<(String, String)> =
        sqlx::query_as(ROLES_OF_USER).bind(user_id).fetch_all(&mut *conn).await?;
    let count = |org: &str, owners_only: bool| -> usize {
        let n: i64 = counts
            .iter()
            .filter(|(o, r, _)| o == org && (!owners_only || Role::of_stored(r) == Role::Owner))
            .map(|(_, _, n)| n)
            .sum();
        usize::try_from(n).unwrap_or(usize::MAX)
    };
    Ok(mine
        .into_iter()
        .map(|(org, role)| Leaving {
            members: count(&org, false),
            owners: count(&org, true),
            role: Role::of_stored(&role),
            organization_id: org,
        })
        .collect())
}

/// Locks the organization and checks that `user_id`'s membership grants `permission`.
async fn lock_and_authorize(
    conn: &mut Conn,
    organization_id: &str,
    user_id: &str,
    permission: Permission,
) -> StoreResult<Result<(), Denied>> {
    if !lock(&mut *conn, organization_id).await? {
        return Ok(Err(Denied::OrganizationNotFound));
    }
    Ok(authorize(membership_in(&mut *conn, organization_id, user_id).await?.as_ref(), permission))
}

#[async_trait]
impl Organizations for Backend {
    async fn create_organization(&self, org: &OrganizationRow, owner: &MemberRow) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(INSERT)
            .bind(&org.id)
            .bind(&org.name)
            .bind(&org.slug)
            .bind(&org.logo)
            .bind(&org.metadata)
            .bind(org.created_at)
            .bind(org.require_two_factor)
            .bind(&org.app_id)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        insert_member(&mut *tx, owner).await?;
        super::commit(tx).await?;
        Ok(())
    }

    async fn update_organization(
        &self,
        id: &str,
        actor_user_id: &str,
        changes: &OrganizationChanges,
    ) -> StoreResult<Result<OrganizationRow, Denied>> {
        let mut tx = self.pool.begin().await?;
        if let Err(denied) =
            lock_and_authorize(&mut tx, id, actor_user_id, Permission::UpdateOrganization).await?
        {
            return Ok(Err(denied));
        }
        let org = sqlx::query_as(UPDATE)
            .bind(id)
            .bind(&changes.name)
            .bind(&changes.slug)
            .bind(changes.logo.is_some())
            .bind(changes.logo.clone().flatten())
            .bind(changes.metadata.is_some())
            .bind(changes.metadata.clone().flatten())
            .bind(changes.require_two_factor)
            .fetch_one(&mut *tx)
            .await
            .map_err(classify)?;
        super::commit(tx).await?;
        if changes.require_two_factor.is_some() {
            // Sessions that have it active withhold it, or show it again, from now on (cached
            // sessions that withhold it no longer name it: all go; the change is rare).
            self.invalidate(Invalidation::All).await;
        }
        Ok(Ok(org))
    }

    async fn delete_organization(
        &self,
        id: &str,
        actor_user_id: &str,
    ) -> StoreResult<Result<OrganizationRow, Denied>> {
        let mut tx = self.pool.begin().await?;
        if let Err(denied) =
            lock_and_authorize(&mut tx, id, actor_user_id, Permission::DeleteOrganization).await?
        {
            return Ok(Err(denied));
        }
        let org = delete(&mut tx, id).await?;
        super::commit(tx).await?;
        // Sessions whose active organization it was.
        self.invalidate(Invalidation::User(id.to_string())).await;
        Ok(org.ok_or(Denied::OrganizationNotFound))
    }

    async fn change_member(
        &self,
        organization_id: &str,
        actor_user_id: &str,
        target: MemberTarget<'_>,
        change: MemberChange,
    ) -> StoreResult<Result<MemberRow, Denied>> {
        let mut tx = self.pool.begin().await?;
        if !lock(&mut tx, organization_id).await? {
            return Ok(Err(Denied::OrganizationNotFound));
        }
        let key = match target {
            MemberTarget::Id(key) | MemberTarget::Email(key) => key,
            MemberTarget::Caller => "",
        };
        let rows: Vec<MemberEmail> = sqlx::query_as(CALLER_TARGET_AND_OWNERS)
            .bind(organization_id)
            .bind(actor_user_id)
            .bind(key)
            .fetch_all(&mut *tx)
            .await?;
        let owners = rows.iter().filter(|r| Role::of_stored(&r.member.role) == Role::Owner).count();
        let Some(actor) = rows.iter().find(|r| r.member.user_id == actor_user_id) else {
            return Ok(Err(Denied::NotAMember));
        };
        let found = match target {
            MemberTarget::Id(id) => rows.iter().find(|r| r.member.id == id),
            MemberTarget::Email(email) => rows.iter().find(|r| r.email == email),
            MemberTarget::Caller => Some(actor),
        };
        let Some(found) = found else {
            return Ok(Err(Denied::MemberNotFound));
        };
        if let Err(denied) = check_member_change(&actor.member, &found.member, change, owners) {
            return Ok(Err(denied));
        }
        let mut member = found.member.clone();
        match change {
            MemberChange::SetRole(role) => {
                sqlx::query(SET_ROLE).bind(&member.id).bind(role.as_str()).execute(&mut *tx).await?;
                member.role = role.as_str().to_string();
            }
            MemberChange::Remove | MemberChange::Leave => {
                sqlx::query(DELETE_MEMBER).bind(&member.id).execute(&mut *tx).await?;
                sessions::clear_organization(&mut *tx, organization_id, Some(&member.user_id)).await?;
            }
        }
        super::commit(tx).await?;
        if !matches!(change, MemberChange::SetRole(_)) {
            self.invalidate(Invalidation::User(member.user_id.clone())).await;
        }
        Ok(Ok(member))
    }

    async fn organization(&self, id_or_slug: &str, app: &str) -> StoreResult<Option<OrganizationRow>> {
        Ok(sqlx::query_as(BY_ID_OR_SLUG).bind(id_or_slug).bind(app).fetch_optional(&self.pool).await?)
    }

    async fn organizations_of(&self, user_id: &str) -> StoreResult<Vec<OrganizationRow>> {
        Ok(sqlx::query_as(OF_USER).bind(user_id).fetch_all(&self.pool).await?)
    }

    async fn membership(&self, organization_id: &str, user_id: &str) -> StoreResult<Option<MemberRow>> {
        membership_in(&self.pool, organization_id, user_id).await
    }

    async fn members(&self, organization_id: &str) -> StoreResult<Vec<(MemberRow, User)>> {
        let rows: Vec<MemberUser> =
            sqlx::query_as(MEMBERS_WITH_USERS).bind(organization_id).fetch_all(&self.pool).await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let user = r.user.with_id(&r.member.user_id);
                (r.member, user)
            })
            .collect())
    }
}
