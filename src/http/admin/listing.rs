//! `/admin/list-users` (search, filter, sort, a page) and `/admin/get-user`.

use axum::{
    Json as JsonOut,
    extract::{RawQuery, State},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use utoipa::{
    IntoParams, PartialSchema, ToSchema,
    openapi::{
        RefOr,
        schema::{ObjectBuilder, Schema, Type},
    },
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{TAG, require, target};
use crate::{
    domain::model::User,
    error::{ApiError, ApiResult, ErrorBody},
    http::{
        extract::{Authenticated, strict_query},
        layers::no_store,
    },
    state::AppState,
    store::admin::{Match, UserField, UserQuery},
};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_users)).routes(routes!(get_user))
}

/// `list-users`' query; an empty value is the same as none.
#[derive(Deserialize, Default, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Looked for in the email and the name (case-insensitive).
    search_value: Option<String>,
    /// How `searchValue` is matched (default `contains`).
    #[param(value_type = Option<Operator>, inline)]
    search_operator: Option<String>,
    /// Users per page: a whole number (default 100; 0 counts as 1, more than 500 as 500).
    #[param(value_type = Option<String>, pattern = "^[0-9]*$")]
    limit: Option<String>,
    /// Users to skip: a whole number (default 0).
    #[param(value_type = Option<String>, pattern = "^[0-9]*$")]
    offset: Option<String>,
    /// The field to sort by (default `createdAt`).
    #[param(value_type = Option<Field>, inline)]
    sort_by: Option<String>,
    /// `asc` (the default) or `desc`.
    #[param(value_type = Option<Direction>, inline)]
    sort_direction: Option<String>,
    /// The field `filterValue` is compared with (default `email`).
    #[param(value_type = Option<Field>, inline)]
    filter_field: Option<String>,
    /// Only users whose `filterField` matches this value.
    filter_value: Option<String>,
    /// How `filterValue` is matched (default `eq`).
    #[param(value_type = Option<Operator>, inline)]
    filter_operator: Option<String>,
}

// For the API description only: the values `list-users` reads from its query, each also empty
// (the default). Written by hand: the derive cannot name an empty value.

/// A query parameter that is one of `values`, or empty.
fn one_of(description: &str, values: &[&str]) -> RefOr<Schema> {
    let values = std::iter::once("").chain(values.iter().copied());
    let schema = ObjectBuilder::new().schema_type(Type::String).enum_values(Some(values));
    schema.description(Some(description)).into()
}

struct Operator;

impl PartialSchema for Operator {
    fn schema() -> RefOr<Schema> {
        one_of("How a value is matched", &["eq", "ne", "contains", "starts_with", "ends_with"])
    }
}

impl ToSchema for Operator {}

struct Field;

impl PartialSchema for Field {
    fn schema() -> RefOr<Schema> {
        let fields = ["id", "email", "name", "role", "banned", "emailVerified", "createdAt"];
        one_of("A field of the user", &fields)
    }
}

impl ToSchema for Field {}

struct Direction;

impl PartialSchema for Direction {
    fn schema() -> RefOr<Schema> {
        one_of("A sort order", &["asc", "desc"])
    }
}

impl ToSchema for Direction {}

/// A page of users.
#[derive(Serialize, ToSchema)]
#[schema(as = AdminUserPage)]
struct UserPage {
    users: Vec<User>,
    /// How many users match (on every page).
    total: u64,
    limit: u32,
    offset: u32,
}

/// The most users one page holds.
const MAX_PAGE: u32 = 500;

fn match_of(raw: Option<&str>, default: Match) -> ApiResult<Match> {
    Ok(match raw {
        None | Some("") => default,
        Some("eq") => Match::Eq,
        Some("ne") => Match::Ne,
        Some("contains") => Match::Contains,
        Some("starts_with") => Match::StartsWith,
        Some("ends_with") => Match::EndsWith,
        Some(_) => return Err(ApiError::Validation("[query] unknown operator".into())),
    })
}

fn number(raw: Option<&str>, default: u32, name: &str) -> ApiResult<u32> {
    match raw {
        None | Some("") => Ok(default),
        Some(v) => v.parse().map_err(|_| ApiError::Validation(format!("[query.{name}] Expected a number"))),
    }
}

/// `GET /admin/list-users`: `{users, total, limit, offset}`. `searchValue` is looked for in the
/// email **and** the name (case-insensitive); one filter, one sort, a page of at most 500.
#[utoipa::path(get, path = "/admin/list-users", tag = TAG, summary = "List, search and filter the users",
    params(ListQuery),
    responses((status = 200, description = "One page of the users of the caller's app", body = UserPage)),
    security(("session" = []), ("bearer" = [])))]
async fn list_users(
    State(state): State<AppState>,
    auth: Authenticated,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    require(&state, &auth, "user", "list", "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS")?;
    let q: ListQuery = strict_query(raw)?;
    let limit = number(q.limit.as_deref(), 100, "limit")?.clamp(1, MAX_PAGE);
    let offset = number(q.offset.as_deref(), 0, "offset")?;
    let field = |raw: Option<&str>, default| match raw {
        None | Some("") => Ok(default),
        Some(f) => {
            UserField::parse(f).ok_or_else(|| ApiError::Validation(format!("[query] unknown field {f:?}")))
        }
    };
    // Every parameter is checked, also those that go unused without a value.
    let search_by = match_of(q.search_operator.as_deref(), Match::Contains)?;
    let search = q.search_value.filter(|v| !v.is_empty()).map(|v| (v, search_by));
    let (filter_field, filter_by) = (
        field(q.filter_field.as_deref(), UserField::Email)?,
        match_of(q.filter_operator.as_deref(), Match::Eq)?,
    );
    let filter = q.filter_value.map(|v| (filter_field, filter_by, v));
    let descending = match q.sort_direction.as_deref() {
        None | Some("") | Some("asc") => false,
        Some("desc") => true,
        Some(_) => return Err(ApiError::Validation("[query.sortDirection] asc or desc".into())),
    };
    let sort = (field(q.sort_by.as_deref(), UserField::CreatedAt)?, descending);
    let query = UserQuery { app: auth.user.app_key().to_string(), search, filter, sort, limit, offset };
    let (users, total) = state.store.list_users(&query).await?;
    Ok(no_store(JsonOut(UserPage { users, total, limit, offset }).into_response()))
}

#[derive(Deserialize, Default, IntoParams)]
#[into_params(parameter_in = Query)]
struct IdQuery {
    /// The user's id.
    #[param(required = true, value_type = String, min_length = 1)]
    id: Option<String>,
}

/// `GET /admin/get-user?id`: the user (no wrapper); 404 `USER_NOT_FOUND`.
#[utoipa::path(get, path = "/admin/get-user", tag = TAG, summary = "Get a user by id",
    params(IdQuery),
    responses((status = 200, description = "The user", body = User),
        (status = 404, description = "`USER_NOT_FOUND` (also for a user of another app)", body = ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
async fn get_user(
    State(state): State<AppState>,
    auth: Authenticated,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    require(&state, &auth, "user", "get", "YOU_ARE_NOT_ALLOWED_TO_GET_USER")?;
    let id = strict_query::<IdQuery>(raw)?.id.filter(|i| !i.is_empty());
    let id = id.ok_or_else(|| ApiError::Validation("[query.id] Required".into()))?;
    Ok(no_store(JsonOut(target(&state, &auth, &id).await?).into_response()))
}
