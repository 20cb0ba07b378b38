//! Cloud and identity sources recognised per record by their fields (never by file name), after
//! generic flattening: AWS CloudTrail, Okta System Log, Entra ID (Azure AD) sign-in and audit
//! logs, Azure activity logs and Auth0 logs. A recognised record gets the Sigma logsource
//! SigmaHQ's rules for that product use, its event time, and (Azure only) the alias fields
//! those rules name (see the crate README's table).

use vigil_core::{Event, LogSource, Symbol, Value};

use super::put;
use super::windows::parse_time;

/// The cloud and identity products recognised here; each is also a [`crate::Format`] a user
/// can force (`--input-format cloudtrail`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Product {
    CloudTrail,
    Okta,
    /// Entra ID sign-in and audit logs, Azure activity logs.
    Azure,
    Auth0,
}

/// Which source a record is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    CloudTrail,
    Okta,
    AzureSignIn,
    AzureAudit,
    AzureActivity,
    /// Auth0 log; `true` when the record nests the log under `data` (Auth0 log streams).
    Auth0(bool),
}

impl Kind {
    fn product(self) -> Product {
        match self {
            Kind::CloudTrail => Product::CloudTrail,
            Kind::Okta => Product::Okta,
            Kind::AzureSignIn | Kind::AzureAudit | Kind::AzureActivity => Product::Azure,
            Kind::Auth0(_) => Product::Auth0,
        }
    }
}

/// Recognises `event` (a flattened non-Windows JSON record); when it is one of the sources
/// above, sets its logsource, time and alias fields and returns its product.
pub(crate) fn assign(event: &mut Event) -> Option<Product> {
    restore_case_if_lowered(event);
    let kind = recognise(event)?;
    apply(event, kind);
    Some(kind.product())
}

/// [`assign`] for a record the user said is `product` (a forced format): that product's
/// recogniser alone is asked (so no other product can claim the record first), and a record it
/// does not claim is an error saying what the product's records carry.
pub(crate) fn assign_as(event: &mut Event, product: Product) -> Result<(), String> {
    restore_case_if_lowered(event);
    let kind = match product {
        Product::CloudTrail => cloudtrail(event).then_some(Kind::CloudTrail),
        Product::Okta => okta(event).then_some(Kind::Okta),
        Product::Azure => azure(event),
        Product::Auth0 => auth0(event),
    };
    let Some(kind) = kind else {
        return Err(match product {
            Product::CloudTrail => {
                "not a CloudTrail record (needs eventVersion + eventSource + eventName, a \
                 userIdentity, or an eventSource ending .amazonaws.com with an eventName)"
            }
            Product::Okta => {
                "not an Okta System Log record (needs eventType + published + actor.*, or \
                 uuid + legacyEventType)"
            }
            Product::Azure => {
                "not an Entra ID sign-in/audit or Azure activity record (needs a \
                 category/Type such as SignInLogs or AuditLogs, or their properties)"
            }
            Product::Auth0 => {
                "not an Auth0 log record (needs a short `type` code with client_id or log_id)"
            }
        }
        .to_string());
    };
    apply(event, kind);
    Ok(())
}

fn restore_case_if_lowered(event: &mut Event) {
    if (has(event, "eventtype") && !has(event, "eventType"))
        || (has(event, "eventsource") && !has(event, "eventSource"))
    {
        restore_case(event);
    }
}

/// Sets the logsource, time and alias fields of a record recognised as `kind`.
fn apply(event: &mut Event, kind: Kind) {
    let (logsource, times): (LogSource, &[&str]) = match kind {
        Kind::CloudTrail => (
            LogSource::product("aws").with_service("cloudtrail"),
            &["eventTime"],
        ),
        Kind::Okta => (
            LogSource::product("okta").with_service("okta"),
            &["published"],
        ),
        Kind::AzureSignIn => (
            LogSource::product("azure").with_service("signinlogs"),
            &[
                "time",
                "TimeGenerated",
                "properties.createdDateTime",
                "CreatedDateTime",
            ],
        ),
        Kind::AzureAudit => (
            LogSource::product("azure").with_service("auditlogs"),
            &[
                "time",
                "TimeGenerated",
                "properties.activityDateTime",
                "ActivityDateTime",
            ],
        ),
        Kind::AzureActivity => (
            LogSource::product("azure").with_service("activitylogs"),
            &["time", "TimeGenerated", "eventTimestamp"],
        ),
        Kind::Auth0(false) => (LogSource::product("auth0"), &["date"]),
        Kind::Auth0(true) => (LogSource::product("auth0"), &["data.date", "date"]),
    };
    if let Some(t) = times
        .iter()
        .find_map(|name| text(event, name).and_then(parse_time))
    {
        event.time = Some(t);
    }
    event.logsource = logsource;
    if matches!(
        kind,
        Kind::AzureSignIn | Kind::AzureAudit | Kind::AzureActivity
    ) {
        azure_aliases(event, kind);
    }
}

/// The first product whose recogniser claims the record, in the order the README's table
/// gives.
fn recognise(event: &Event) -> Option<Kind> {
    if cloudtrail(event) {
        return Some(Kind::CloudTrail);
    }
    if okta(event) {
        return Some(Kind::Okta);
    }
    azure(event).or_else(|| auth0(event))
}

/// CloudTrail: its record header, or the caller identity every record carries.
fn cloudtrail(event: &Event) -> bool {
    let has = |name: &str| has(event, name);
    (has("eventVersion") && has("eventSource") && has("eventName"))
        || has("userIdentity.type")
        || has("userIdentity.arn")
        || has("userIdentity.principalId")
        || (has("eventName")
            && text(event, "eventSource").is_some_and(|s| s.ends_with(".amazonaws.com")))
}

/// Okta System Log.
fn okta(event: &Event) -> bool {
    (has(event, "eventType") && has(event, "published") && has_prefix(event, "actor."))
        || (has(event, "uuid") && has(event, "legacyEventType"))
}

/// Auth0: a short `type` code plus a client or log id, at the top or under `data`.
fn auth0(event: &Event) -> Option<Kind> {
    for (prefix, nested) in [("", false), ("data.", true)] {
        let code = text(event, &format!("{prefix}type"));
        let short = code.is_some_and(|c| {
            !c.is_empty()
                && c.len() <= 32
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        });
        if short
            && (has(event, &format!("{prefix}client_id")) || has(event, &format!("{prefix}log_id")))
            && !has(event, "eventType")
        {
            return Some(Kind::Auth0(nested));
        }
    }
    None
}

/// Entra ID / Azure AD (Azure Monitor diagnostic export, lowercase names with `properties`; or
/// Log Analytics / Sentinel tables, capitalised names) and Azure activity logs.
fn azure(event: &Event) -> Option<Kind> {
    let has = |name: &str| has(event, name);
    let category = text(event, "category")
        .or_else(|| text(event, "Category"))
        .unwrap_or("");
    let table = text(event, "Type").unwrap_or("");
    let is = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    let sign_in = |s: &str| s.to_ascii_lowercase().ends_with("signinlogs");
    if sign_in(category) || sign_in(table) {
        return Some(Kind::AzureSignIn);
    }
    if is(category, "AuditLogs") || is(table, "AuditLogs") {
        return Some(Kind::AzureAudit);
    }
    // Uncategorised exports: the shape of the properties.
    if has("properties.userPrincipalName")
        && has("properties.appDisplayName")
        && (has("resultType") || has("properties.status.errorCode"))
    {
        return Some(Kind::AzureSignIn);
    }
    let operation = has("operationName") || has("OperationName");
    if operation
        && (has("properties.activityDisplayName")
            || has("ActivityDisplayName")
            || has("activityDisplayName"))
    {
        return Some(Kind::AzureAudit);
    }
    let resource = text(event, "resourceId")
        .or_else(|| text(event, "ResourceId"))
        .unwrap_or("");
    let activity_category = [
        "Administrative",
        "Security",
        "ServiceHealth",
        "Alert",
        "Recommendation",
        "Policy",
        "Autoscale",
        "ResourceHealth",
    ]
    .iter()
    .any(|c| is(category, c));
    if operation
        && (is(table, "AzureActivity")
            || (activity_category && resource.to_ascii_lowercase().contains("/subscriptions/")))
    {
        return Some(Kind::AzureActivity);
    }
    None
}

/// Top-level names of Okta System Log and CloudTrail records in the case the products write
/// them.
const CAMEL_NAMES: &[&str] = &[
    // Okta
    "eventType",
    "legacyEventType",
    "displayMessage",
    "authenticationContext",
    "securityContext",
    "debugContext",
    "transaction",
    // CloudTrail
    "eventVersion",
    "eventSource",
    "eventName",
    "eventTime",
    "eventID",
    "eventCategory",
    "awsRegion",
    "userIdentity",
    "sourceIPAddress",
    "userAgent",
    "requestParameters",
    "responseElements",
    "additionalEventData",
    "recipientAccountId",
    "managementEvent",
    "readOnly",
    "errorCode",
    "errorMessage",
    "apiVersion",
];

/// Some exports (Panther's test logs among them) lower-case every key: `eventtype`,
/// `securitycontext.isproxy`. Each field whose first name segment is a lower-cased
/// [`CAMEL_NAMES`] entry is also added under the product's spelling of that segment (the rest
/// of the path as written), when that name is absent.
fn restore_case(event: &mut Event) {
    let mut add: Vec<(String, Value)> = Vec::new();
    for field in event.fields() {
        let name = field.name.as_str();
        let (head, tail) = name.split_once('.').map_or((name, ""), |(h, t)| (h, t));
        if let Some(camel) = CAMEL_NAMES
            .iter()
            .find(|c| c.eq_ignore_ascii_case(head) && **c != head)
        {
            let alias = if tail.is_empty() {
                (*camel).to_string()
            } else {
                format!("{camel}.{tail}")
            };
            add.push((alias, field.value.clone()));
        }
    }
    for (name, value) in add {
        if !has(event, &name) {
            put(event, &name, value);
        }
    }
}

/// SigmaHQ's Azure rules name fields as Log Analytics does (`ResultType`, `OperationName`,
/// `AuthenticationRequirement`, `Status`…) or as the diagnostic export does
/// (`operationName`, `properties.message`). A diagnostic export gets the Log Analytics names
/// as aliases (only when absent): each scalar directly under `properties` also at the top level
/// under its own and its capitalised name; the lowercase top-level names capitalised; `Status`
/// from the sign-in error code (0 → `Success`, else `Failure`) or the audit `result`; on audit
/// records `properties.message` from the activity name (trimmed).
fn azure_aliases(event: &mut Event, kind: Kind) {
    let mut add: Vec<(String, Value)> = Vec::new();
    for field in event.fields() {
        let name = field.name.as_str();
        if let Some(rest) = name.strip_prefix("properties.") {
            if !rest.contains('.') {
                add.push((rest.to_string(), field.value.clone()));
                add.push((capitalise(rest), field.value.clone()));
            }
        } else if !name.contains('.') && name.starts_with(|c: char| c.is_ascii_lowercase()) {
            add.push((capitalise(name), field.value.clone()));
        }
    }
    let status = match kind {
        Kind::AzureSignIn => event
            .get_str("properties.status.errorCode")
            .and_then(number)
            .map(|code| if code == 0 { "Success" } else { "Failure" }.to_string()),
        _ => text(event, "properties.result")
            .or_else(|| text(event, "Result"))
            .map(|r| {
                let mut r = capitalise(r);
                r.truncate(64);
                r
            }),
    };
    if let Some(status) = status {
        add.push(("Status".to_string(), Value::str(status)));
    }
    // Audit rules name the activity `properties.message` (the activity log's name for it).
    if kind == Kind::AzureAudit
        && let Some(activity) = [
            "properties.activityDisplayName",
            "ActivityDisplayName",
            "properties.operationName",
            "OperationName",
            "operationName",
        ]
        .iter()
        .find_map(|name| text(event, name))
    {
        add.push((
            "properties.message".to_string(),
            Value::str(activity.trim()),
        ));
    }
    for (name, value) in add {
        if !has(event, &name) {
            put(event, &name, value);
        }
    }
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn number(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        other => other.as_text().and_then(|t| t.as_str().trim().parse().ok()),
    }
}

fn has(event: &Event, name: &str) -> bool {
    Symbol::lookup(name).is_some_and(|s| event.get(s).is_some_and(|v| *v != Value::Null))
}

fn has_prefix(event: &Event, prefix: &str) -> bool {
    event
        .fields()
        .iter()
        .any(|f| f.name.as_str().starts_with(prefix))
}

fn text<'e>(event: &'e Event, name: &str) -> Option<&'e str> {
    let sym = Symbol::lookup(name)?;
    event.get(sym)?.as_text().map(|t| t.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::flatten::{Scalars, flatten};
    use crate::decode::tree::Json;

    fn decode(text: &str) -> Event {
        let v: Json = serde_json::from_str(text).unwrap();
        let mut e = Event::default();
        flatten(&mut String::new(), &v, Scalars::Native, &mut e);
        assign(&mut e);
        e
    }

    fn source(e: &Event) -> String {
        e.logsource.to_string()
    }

    #[test]
    fn recognised_by_fields() {
        let e = decode(
            r#"{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/a"},"eventTime":"2023-07-10T11:42:18Z","eventSource":"iam.amazonaws.com","eventName":"GetUser"}"#,
        );
        assert_eq!(source(&e), "product: aws, service: cloudtrail");
        assert_eq!(e.time.unwrap().to_string(), "2023-07-10T11:42:18Z");
        let e = decode(
            r#"{"published":"2022-03-22 14:21:53.225","eventType":"user.session.start","actor":{"alternateId":"h@s.gov"}}"#,
        );
        assert_eq!(source(&e), "product: okta, service: okta");
        assert_eq!(e.time.unwrap().to_string(), "2022-03-22T14:21:53.225Z");
        let e = decode(
            r#"{"time":"2025-01-15T14:20:35Z","category":"SignInLogs","operationName":"Sign-in activity","resultType":"0","properties":{"status":{"errorCode":0},"authenticationRequirement":"singleFactorAuthentication"}}"#,
        );
        assert_eq!(source(&e), "product: azure, service: signinlogs");
        assert_eq!(e.get_str("ResultType"), Some(&Value::str("0")));
        assert_eq!(e.get_str("Status"), Some(&Value::str("Success")));
        assert_eq!(
            e.get_str("AuthenticationRequirement"),
            Some(&Value::str("singleFactorAuthentication"))
        );
        let e = decode(
            r#"{"OperationName":"Add member to role","Category":"RoleManagement","ActivityDisplayName":"Add member to role","Type":"AuditLogs"}"#,
        );
        assert_eq!(source(&e), "product: azure, service: auditlogs");
        let e = decode(
            r#"{"resourceId":"/SUBSCRIPTIONS/1/RESOURCEGROUPS/g","category":"Administrative","operationName":"MICROSOFT.COMPUTE/VIRTUALMACHINES/WRITE"}"#,
        );
        assert_eq!(source(&e), "product: azure, service: activitylogs");
        let e = decode(
            r#"{"data":{"type":"sapi","client_id":"x","date":"2025-10-03 14:09:32.149000000"},"log_id":"9"}"#,
        );
        assert_eq!(source(&e), "product: auth0");
        assert!(e.time.is_some());
        let e = decode(r#"{"type":"s","log_id":"9","date":"2025-10-03T14:09:32Z"}"#);
        assert_eq!(source(&e), "product: auth0");
        // Lower-cased keys get the products' spelling too.
        let e = decode(
            r#"{"published":"2022-03-22 14:21:53.225","eventtype":"user.session.start","actor":{"id":"1"},"securitycontext":{"isProxy":true}}"#,
        );
        assert_eq!(source(&e), "product: okta, service: okta");
        assert_eq!(
            e.get_str("eventType"),
            Some(&Value::str("user.session.start"))
        );
        assert_eq!(
            e.get_str("securityContext.isProxy"),
            Some(&Value::Bool(true))
        );
        let e =
            decode(r#"{"eventsource":"iam.amazonaws.com","eventname":"GetAccountPasswordPolicy"}"#);
        assert_eq!(source(&e), "product: aws, service: cloudtrail");
        // Anything else keeps an empty logsource.
        let e = decode(r#"{"type":"alert","event_type":"alert","src_ip":"1.2.3.4"}"#);
        assert_eq!(e.logsource, LogSource::default());
    }
}
