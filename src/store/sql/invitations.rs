//! Table `invitation`.

use async_trait::async_trait;

use super::{Backend, organizations, sessions};
use crate::{
    domain::model::{InvitationRow, MemberRow},
    store::{Invitations, StoreResult, cache::Invalidation},
};

/// The `invitation` table's columns, in `InvitationRow`'s order.
macro_rules! invitation_columns {
    () => {
        r#""id", "organizationId", "email", "role", "status", "expiresAt", "inviterId", "createdAt""#
    };
}

const INSERT: &str = concat!(
    r#"INSERT INTO "invitation" ("#,
    invitation_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
);

const BY_ID: &str = concat!("SELECT ", invitation_columns!(), r#" FROM "invitation" WHERE "id" = $1"#);

const OF_ORGANIZATION: &str = concat!(
    "SELECT ",
    invitation_columns!(),
    r#" FROM "invitation" WHERE "organizationId" = $1 ORDER BY "createdAt" DESC"#
);

const SETTLE: &str = r#"
UPDATE "invitation" SET "status" = $2, "expiresAt" = COALESCE($3, "expiresAt") WHERE "id" = $1 AND "status" = 'pending'"#;

#[async_trait]
impl Invitations for Backend {
    async fn insert_invitation(&self, i: &InvitationRow) -> StoreResult<()> {
        sqlx::query(INSERT)
            .bind(&i.id)
            .bind(&i.organization_id)
            .bind(&i.email)
            .bind(&i.role)
            .bind(&i.status)
            .bind(i.expires_at)
            .bind(&i.inviter_id)
            .bind(i.created_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn invitation(&self, id: &str) -> StoreResult<Option<InvitationRow>> {
        Ok(sqlx::query_as(BY_ID).bind(id).fetch_optional(&self.pool).await?)
    }

    async fn invitations_of(&self, organization_id: &str) -> StoreResult<Vec<InvitationRow>> {
        Ok(sqlx::query_as(OF_ORGANIZATION).bind(organization_id).fetch_all(&self.pool).await?)
    }

    async fn settle_invitation(&self, id: &str, status: &str, expires_at: Option<i64>) -> StoreResult<bool> {
        let done = sqlx::query(SETTLE).bind(id).bind(status).bind(expires_at).execute(&self.pool).await?;
        Ok(done.rows_affected() == 1)
    }

    async fn accept_invitation(&self, id: &str, member: &MemberRow, token: &str) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        if !organizations::lock(&mut tx, &member.organization_id).await? {
            return Ok(false);
        }
        let done = sqlx::query(SETTLE).bind(id).bind("accepted").bind(None::<i64>).execute(&mut *tx).await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        organizations::insert_member(&mut *tx, member).await?;
        sessions::set_active(&mut *tx, token, Some(&member.organization_id)).await?;
        super::commit(tx).await?;
        self.invalidate(Invalidation::token(token)).await;
        Ok(true)
    }
}
