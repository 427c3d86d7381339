//! The API description, generated from the handlers' `#[utoipa::path]` annotations and the
//! `ToSchema` types they answer with: `GET /open-api/generate-schema` (OpenAPI 3.1 JSON) and
//! `GET /reference` (an HTML page rendered here from that document; nothing is loaded from
//! elsewhere, so it works offline).
//!
//! What no single handler states is added once here: the error answers every route can give
//! (the layers' 400/403/413/415/429, the session's 401, 503 when the database is away), and the
//! security schemes (the session cookie, `Authorization: Bearer`).

use std::sync::Arc;

use axum::{
    Extension,
    body::Bytes,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use minijinja::{Environment, context};
use serde::Serialize;
use utoipa::{
    PartialSchema,
    openapi::{
        ComponentsBuilder, Info, ObjectBuilder, OpenApi, RefOr, Required, ResponseBuilder, Schema, Type,
        content::Content,
        path::{Operation, PathItem},
        schema::SchemaType,
        security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme},
    },
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    domain::fields::{FieldSpec, FieldType, MAX_TEXT},
    error::ErrorBody,
    state::AppState,
};

/// The tag of these two routes.
const TAG: &str = "Reference";

/// The statuses any route may answer with the contract's error body, whatever its handler does.
const EVERY_ROUTE_MAY: [(&str, &str); 9] = [
    ("400", "The body or query is not valid (missing field, wrong type, malformed JSON)"),
    ("401", "No valid session, key or token where one is needed"),
    ("403", "Refused: origin check, permission, lockout, ban"),
    ("404", "Nothing found"),
    ("409", "Conflicts with what is stored"),
    ("413", "Body larger than the limit"),
    ("415", "Body not in a supported content type"),
    ("429", "Rate limited; `X-Retry-After` says when to try again"),
    ("503", "The database or a required service is unreachable"),
];

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(generate_schema)).routes(routes!(reference))
}

/// The finished document, rendered once at start-up.
pub struct Document {
    json: Bytes,
    html: Bytes,
}

impl Document {
    /// Completes the routes' document (`base_path` prefixed to every path) and renders it.
    pub fn new(routes: OpenApi, base_path: &str, session_cookie: &str, user_fields: &[FieldSpec]) -> Self {
        let mut doc = OpenApi::new(
            Info::builder()
                .title("Gatehouse")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Session-cookie authentication speaking Better Auth's wire contract. Errors are \
                     `{code, error, message}`; a signed-in client sends the session cookie or \
                     `Authorization: Bearer <session token>`.",
                ))
                .build(),
            utoipa::openapi::Paths::new(),
        )
        .nest(base_path, routes);
        add_components(&mut doc, session_cookie);
        add_user_fields(&mut doc, user_fields);
        add_error_answers(&mut doc);
        name_operations(&mut doc, base_path);
        optional_bodies(&mut doc);
        let json = doc.to_json().unwrap_or_else(|_| "{}".into());
        let html =
            render(&doc, base_path).unwrap_or_else(|err| format!("<p>reference unavailable: {err}</p>"));
        Self { json: json.into(), html: html.into() }
    }
}

fn add_components(doc: &mut OpenApi, session_cookie: &str) {
    let error = ResponseBuilder::new()
        .description("The contract's error body")
        .content(
            "application/json",
            Content::new(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name("ErrorBody")))),
        )
        .build();
    let extra = ComponentsBuilder::new()
        .schema("ErrorBody", ErrorBody::schema())
        .response("Error", error)
        .security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                session_cookie,
                "The signed session cookie set at sign-in",
            ))),
        )
        .security_scheme(
            "bearer",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The session token (`token` of a sign-in answer, or `set-auth-token`)"))
                    .build(),
            ),
        )
        .security_scheme(
            "jwt",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("A JWT from `GET /token`"))
                    .build(),
            ),
        )
        .build();
    match doc.components.as_mut() {
        Some(components) => {
            components.schemas.extend(extra.schemas);
            components.responses.extend(extra.responses);
            components.security_schemes.extend(extra.security_schemes);
        }
        None => doc.components = Some(extra),
    }
}

/// The custom user fields (`USER_FIELDS`) where they go: on the user object (never required:
/// users made before a field was declared, or by a provider, may lack it) and in the bodies that
/// set them (`null` clears; required on sign-up when declared without `?` or a default).
fn add_user_fields(doc: &mut OpenApi, specs: &[FieldSpec]) {
    let Some(components) = doc.components.as_mut() else { return };
    let typed = |spec: &FieldSpec, in_body: bool| {
        // In a body `null` clears a field that may be cleared.
        let nullable = in_body && (spec.optional || spec.default.is_some());
        let kind = match spec.kind {
            FieldType::String => Type::String,
            FieldType::Number => Type::Number,
            FieldType::Boolean => Type::Boolean,
        };
        let kinds = match nullable {
            true => SchemaType::from_iter([kind, Type::Null]),
            false => SchemaType::Type(kind),
        };
        let schema = ObjectBuilder::new()
            .schema_type(kinds)
            .description(Some(match spec.admin_only {
                true => format!("Custom field `{}` (USER_FIELDS), set by admins only", spec.name),
                false => format!("Custom field `{}` (USER_FIELDS)", spec.name),
            }))
            .default(spec.default.clone())
            .max_length((spec.kind == FieldType::String).then_some(MAX_TEXT))
            .build();
        RefOr::T(Schema::Object(schema))
    };
    for (name, in_body) in
        [("User", false), ("SignUpBody", true), ("UpdateUserBody", true), ("AdminUserChanges", true)]
    {
        let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(name) else { continue };
        let by_users = name == "SignUpBody" || name == "UpdateUserBody";
        for spec in specs.iter().filter(|s| !(by_users && s.admin_only)) {
            object.properties.insert(spec.name.clone(), typed(spec, in_body));
            if name == "SignUpBody" && !spec.optional && spec.default.is_none() {
                object.required.push(spec.name.clone());
            }
        }
    }
}

/// The operation slots of a path, by method (lowercase, as OpenAPI names them).
fn slots(item: &PathItem) -> [(&'static str, &Option<Operation>); 5] {
    [
        ("get", &item.get),
        ("post", &item.post),
        ("put", &item.put),
        ("patch", &item.patch),
        ("delete", &item.delete),
    ]
}

fn slots_mut(item: &mut PathItem) -> [(&'static str, &mut Option<Operation>); 5] {
    [
        ("get", &mut item.get),
        ("post", &mut item.post),
        ("put", &mut item.put),
        ("patch", &mut item.patch),
        ("delete", &mut item.delete),
    ]
}

/// Every operation of the document.
fn operations_mut(doc: &mut OpenApi) -> impl Iterator<Item = &mut Operation> {
    doc.paths
        .paths
        .values_mut()
        .flat_map(|item| slots_mut(item).into_iter().filter_map(|(_, op)| op.as_mut()))
}

/// Operation ids from the path (`/sign-in/email` → `signInEmail`), the method first where a path
/// has several (`getLinkAccount`, `postLinkAccount`): the handlers' names repeat across modules.
fn name_operations(doc: &mut OpenApi, base_path: &str) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let words = path.strip_prefix(base_path).unwrap_or(path).split(|c: char| !c.is_ascii_alphanumeric());
        let mut name = String::new();
        for word in words.filter(|w| !w.is_empty()) {
            let mut chars = word.chars();
            if let Some(first) = chars.next() {
                match name.is_empty() {
                    true => name.push(first.to_ascii_lowercase()),
                    false => name.push(first.to_ascii_uppercase()),
                }
                name.extend(chars);
            }
        }
        let slots = slots_mut(item);
        let several = slots.iter().filter(|(_, op)| op.is_some()).count() > 1;
        for (method, op) in slots {
            let Some(op) = op else { continue };
            op.operation_id = Some(match several {
                true => format!("{method}{}{}", name[..1].to_ascii_uppercase(), &name[1..]),
                false => name.clone(),
            });
        }
    }
}

/// A JSON body whose fields are all optional may be left out: the body extractor reads a
/// missing body as `{}`. utoipa marks every body required; this says which are not.
fn optional_bodies(doc: &mut OpenApi) {
    let schemas = doc.components.as_ref().map(|c| c.schemas.clone()).unwrap_or_default();
    let needs_fields = |schema: &RefOr<Schema>| {
        let schema = match schema {
            RefOr::Ref(r) => r.ref_location.rsplit('/').next().and_then(|name| schemas.get(name)),
            inline => Some(inline),
        };
        match schema {
            Some(RefOr::T(Schema::Object(object))) => {
                !object.required.is_empty() || object.min_properties.is_some_and(|n| n > 0)
            }
            // Anything else (a union, a free-form object): say what utoipa said.
            _ => true,
        }
    };
    for op in operations_mut(doc) {
        let Some(RefOr::T(body)) = op.request_body.as_mut() else { continue };
        let json = match body.content.get("application/json") {
            Some(RefOr::T(content)) => content.schema.as_ref(),
            _ => None,
        };
        if json.is_some_and(|schema| !needs_fields(schema)) {
            body.required = Some(Required::False);
        }
    }
}

fn add_error_answers(doc: &mut OpenApi) {
    for op in operations_mut(doc) {
        for (status, _) in EVERY_ROUTE_MAY {
            op.responses
                .responses
                .entry(status.to_string())
                .or_insert_with(|| RefOr::Ref(utoipa::openapi::Ref::from_response_name("Error")));
        }
    }
}

#[derive(Serialize)]
struct PageOperation {
    method: String,
    path: String,
    summary: String,
    description: String,
    secured: bool,
    request: Option<String>,
    responses: Vec<(String, String)>,
}

#[derive(Serialize)]
struct PageTag {
    name: String,
    operations: Vec<PageOperation>,
}

const PAGE: &str = r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }} API reference</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
code,pre{font:13px/1.4 ui-monospace,monospace}pre{background:#f5f5f5;padding:.6rem;overflow:auto}
.op{border-top:1px solid #ddd;padding:.6rem 0}.m{display:inline-block;min-width:3.5rem;font-weight:bold}
.lock{color:#a60}nav a{margin-right:.8rem}details{margin:.3rem 0}
</style></head><body>
<h1>{{ title }} <small>{{ version }}</small></h1>
<p>{{ description }}</p>
<p>Machine-readable: <a href="{{ schema_url }}">{{ schema_url }}</a> (OpenAPI {{ openapi }}).
Every route may also answer the error body with: {% for s in errors %}<code>{{ s[0] }}</code> ({{ s[1] }}){% if not loop.last %}, {% endif %}{% endfor %}.</p>
<nav>{% for tag in tags %}<a href="#{{ tag.name }}">{{ tag.name }}</a>{% endfor %}</nav>
{% for tag in tags %}<h2 id="{{ tag.name }}">{{ tag.name }}</h2>
{% for op in tag.operations %}<div class="op"><span class="m">{{ op.method }}</span> <code>{{ op.path }}</code>
{% if op.secured %} <span class="lock" title="needs a session">&#128274; session</span>{% endif %}
<div>{{ op.summary }}</div>{% if op.description %}<div>{{ op.description }}</div>{% endif %}
{% if op.request %}<details><summary>Request body</summary><pre>{{ op.request }}</pre></details>{% endif %}
{% for r in op.responses %}<details><summary>{{ r[0] }}</summary><pre>{{ r[1] }}</pre></details>{% endfor %}
</div>{% endfor %}{% endfor %}
</body></html>"##;

fn render(doc: &OpenApi, base_path: &str) -> Result<String, minijinja::Error> {
    let mut tags: Vec<PageTag> = Vec::new();
    for (path, item) in &doc.paths.paths {
        for (method, op) in slots(item) {
            let Some(op) = op else { continue };
            let tag = op.tags.as_ref().and_then(|t| t.first()).cloned().unwrap_or_else(|| "Other".into());
            let request = op.request_body.as_ref().map(pretty);
            let responses = op
                .responses
                .responses
                .iter()
                .filter(|(_, r)| !matches!(r, RefOr::Ref(_)))
                .map(|(status, r)| (status.clone(), pretty(r)))
                .collect();
            let entry = PageOperation {
                method: method.to_ascii_uppercase(),
                path: path.clone(),
                summary: op.summary.clone().unwrap_or_default(),
                description: op.description.clone().unwrap_or_default(),
                secured: op.security.as_ref().is_some_and(|s| !s.is_empty()),
                request,
                responses,
            };
            match tags.iter_mut().find(|t| t.name == tag) {
                Some(t) => t.operations.push(entry),
                None => tags.push(PageTag { name: tag, operations: vec![entry] }),
            }
        }
    }
    let schema_url = format!("{base_path}/open-api/generate-schema");
    let mut env = Environment::new();
    // Named .html: minijinja escapes every value then.
    env.add_template("reference.html", PAGE)?;
    env.get_template("reference.html")?.render(context! {
        title => doc.info.title,
        version => doc.info.version,
        description => doc.info.description,
        openapi => "3.1",
        schema_url,
        errors => EVERY_ROUTE_MAY,
        tags,
    })
}

/// Pretty JSON of a part of the document, for the page.
fn pretty<T: Serialize>(part: &T) -> String {
    serde_json::to_string_pretty(part).unwrap_or_default()
}

/// `GET /open-api/generate-schema`: this server's OpenAPI 3.1 document.
#[utoipa::path(get, path = "/open-api/generate-schema", tag = TAG,
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object)))]
async fn generate_schema(Extension(doc): Extension<Arc<Document>>) -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], doc.json.clone()).into_response()
}

/// `GET /reference`: the document as a page to read.
#[utoipa::path(get, path = "/reference", tag = TAG,
    responses((status = 200, description = "An HTML page describing every route", content_type = "text/html", body = String)))]
async fn reference(Extension(doc): Extension<Arc<Document>>) -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"))], doc.html.clone())
        .into_response()
}
