//! Table `refreshToken`: API clients' refresh tokens, by hash. Rotating is one guarded update
//! (of concurrent rotations of one token exactly one wins) with the child's insert in the same
//! transaction; tokens die with their session by cascade.

use async_trait::async_trait;

use super::{Backend, Db};
use crate::store::{
    RefreshFound, RefreshRow, RefreshTokens, StoreError, StoreResult, cache::Invalidation, classify,
};

const INSERT: &str = r#"
INSERT INTO "refreshToken" ("id", "familyId", "tokenHash", "sessionId", "userId", "ownsSession", "createdAt",
                            "expiresAt", "rotatedAt")
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"#;

/// A token, its session's cookie token (the key the session cache is read by) and its user's
/// app (`''`: the default space).
const BY_HASH: &str = r#"
SELECT r."id", r."familyId", r."tokenHash", r."sessionId", r."userId", r."ownsSession", r."createdAt",
       r."expiresAt", r."rotatedAt", s."token" AS "sessionToken", COALESCE(u."appId", '') AS "appKey"
  FROM "refreshToken" r JOIN "session" s ON s."id" = r."sessionId" JOIN "user" u ON u."id" = r."userId"
 WHERE r."tokenHash" = $1"#;

/// Spends a token: only one that is unspent and unexpired, so one of racing rotations wins.
const SPEND: &str = r#"
UPDATE "refreshToken" SET "rotatedAt" = $2 WHERE "id" = $1 AND "rotatedAt" IS NULL AND "expiresAt" > $2"#;

const DELETE_FAMILY: &str = r#"DELETE FROM "refreshToken" WHERE "familyId" = $1"#;

const DELETE_SESSION: &str = r#"DELETE FROM "session" WHERE "id" = $1 RETURNING "token""#;

/// Expired tokens; a family's spent ones go once they could no longer have been used anyway.
const DELETE_EXPIRED: &str = r#"DELETE FROM "refreshToken" WHERE "expiresAt" <= $1"#;

#[derive(sqlx::FromRow)]
struct WithSession {
    #[sqlx(flatten)]
    row: RefreshRow,
    #[sqlx(rename = "sessionToken")]
    session_token: String,
    #[sqlx(rename = "appKey")]
    app_key: String,
}

async fn insert<'e, E>(executor: E, r: &RefreshRow) -> StoreResult<()>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    sqlx::query(INSERT)
        .bind(&r.id)
        .bind(&r.family_id)
        .bind(&r.token_hash)
        .bind(&r.session_id)
        .bind(&r.user_id)
        .bind(r.owns_session)
        .bind(r.created_at)
        .bind(r.expires_at)
        .bind(r.rotated_at)
        .execute(executor)
        .await
        .map_err(classify)?;
    Ok(())
}

#[async_trait]
impl RefreshTokens for Backend {
    async fn insert_refresh_token(&self, row: &RefreshRow) -> StoreResult<()> {
        insert(&self.pool, row).await
    }

    async fn refresh_token(&self, token_hash: &str) -> StoreResult<Option<RefreshFound>> {
        let found: Option<WithSession> =
            sqlx::query_as(BY_HASH).bind(token_hash).fetch_optional(&self.pool).await?;
        Ok(found.map(|f| RefreshFound { row: f.row, session_token: f.session_token, app_key: f.app_key }))
    }

    async fn rotate_refresh_token(&self, parent_id: &str, child: &RefreshRow, now: i64) -> StoreResult<bool> {
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin().await?;
        // The child first: its foreign key locks the session before the parent is locked, the
        // order in which ending a session locks them (so the two cannot deadlock on PostgreSQL).
        match insert(&mut *tx, child).await {
            // The session ended meanwhile (and the parent with it), or a racing rotation of the
            // same parent inserted this very child first: nothing to rotate here.
            Err(StoreError::Gone | StoreError::Conflict) => return Ok(false),
            done => done?,
        }
        let spent = sqlx::query(SPEND).bind(parent_id).bind(now).execute(&mut *tx).await?;
        if spent.rows_affected() != 1 {
            // Dropping the transaction takes the child back.
            return Ok(false);
        }
        super::commit(tx).await?;
        Ok(true)
    }

    async fn delete_refresh_family(&self, family_id: &str) -> StoreResult<()> {
        // On PostgreSQL a statement sees the rows committed when it began: a rotation committing
        // while this waits for the parent's lock leaves a child the first delete cannot see, so
        // delete until nothing is left (each statement looks afresh).
        while sqlx::query(DELETE_FAMILY).bind(family_id).execute(&self.pool).await?.rows_affected() > 0 {}
        Ok(())
    }

    async fn end_refresh_session(&self, session_id: &str) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        let token: Option<String> =
            sqlx::query_scalar(DELETE_SESSION).bind(session_id).fetch_optional(&mut *tx).await?;
        let Some(token) = token else { return Ok(()) };
        self.commit_announcing(tx, &[Invalidation::token(&token)]).await
    }

    async fn delete_expired_refresh_tokens(&self, now: i64) -> StoreResult<u64> {
        Ok(sqlx::query(DELETE_EXPIRED).bind(now).execute(&self.pool).await?.rows_affected())
    }
}
