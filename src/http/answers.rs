//! Small answers many routes share, typed so the API description knows them.

use serde::Serialize;
use utoipa::ToSchema;

/// `{success: true}`.
#[derive(Serialize, ToSchema)]
pub struct Success {
    pub success: bool,
}

impl Success {
    pub const YES: Self = Self { success: true };
}

/// `{status: true}`.
#[derive(Serialize, ToSchema)]
pub struct Status {
    pub status: bool,
}

impl Status {
    pub const YES: Self = Self { status: true };
}
