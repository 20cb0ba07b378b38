//! Identity providers: Okta System Log, Entra ID (Azure AD) sign-in and audit logs, Azure
//! activity logs, Auth0 logs. Each names the actor, its address and client; Entra's Log
//! Analytics (Sentinel) exports spell the same fields capitalised, and keep `InitiatedBy` as
//! a JSON string, parsed here.

use vigil_core::{Entities, EntityField as F};

use super::Fields;

pub(super) fn extract<'e>(e: Fields<'_, 'e>, product: &str, out: &mut Entities<'e>) {
    match product {
        "okta" => okta(e, out),
        "azure" => azure(e, out),
        _ => auth0(e, out),
    }
}

fn okta<'e>(e: Fields<'_, 'e>, out: &mut Entities<'e>) {
    e.put(out, F::ActorUserUid, &syms!["actor.id"]);
    // `alternateId` is the login (an e-mail address for people, a client id for apps).
    if let Some(login) = e.text(sym!("actor.alternateId")) {
        out.add_str(F::ActorUserName, login);
        if login.contains('@') {
            out.add_str(F::ActorUserEmail, login);
        }
    }
    e.put(
        out,
        F::SrcIp,
        &syms!["client.ipAddress", "client.ipaddress"],
    );
    e.put(
        out,
        F::UserAgent,
        &syms![
            "client.userAgent.rawUserAgent",
            "client.useragent.rawuseragent",
        ],
    );
    // A single target that is a user is the account acted on.
    if e.text(sym!("target.type")) == Some("User") {
        e.put(out, F::UserName, &syms!["target.alternateId"]);
        e.put(out, F::UserUid, &syms!["target.id"]);
    }
}

fn azure<'e>(e: Fields<'_, 'e>, out: &mut Entities<'e>) {
    // Sign-in logs (diagnostic export, then Log Analytics spelling).
    e.put(
        out,
        F::ActorUserName,
        &syms![
            "properties.userPrincipalName",
            "UserPrincipalName",
            "identity",
            "Identity",
            "properties.initiatedBy.user.userPrincipalName",
            "caller",
            "Caller",
        ],
    );
    e.put(
        out,
        F::ActorUserUid,
        &syms![
            "properties.userId",
            "UserId",
            "properties.initiatedBy.user.id",
        ],
    );
    e.put(
        out,
        F::SrcIp,
        &syms![
            "properties.ipAddress",
            "IPAddress",
            "callerIpAddress",
            "CallerIpAddress",
            "properties.initiatedBy.user.ipAddress",
        ],
    );
    e.put(
        out,
        F::UserAgent,
        &syms!["properties.userAgent", "UserAgent"],
    );
    // Sentinel's AuditLogs keep `InitiatedBy` as a JSON string.
    if let Some(json) = e.text(sym!("InitiatedBy"))
        && let Ok(v) = serde_json::from_str::<serde_json::Value>(json)
    {
        let user = &v["user"];
        for (field, key) in [
            (F::ActorUserName, "userPrincipalName"),
            (F::ActorUserUid, "id"),
            (F::SrcIp, "ipAddress"),
        ] {
            if let Some(s) = user[key].as_str() {
                out.add_string(field, s.to_string());
            }
        }
    }
    e.put(
        out,
        F::CloudAccountUid,
        &syms!["tenantId", "TenantId", "AADTenantId", "properties.tenantId"],
    );
    out.add_str(F::CloudProvider, "Azure");
    e.put(
        out,
        F::ApiOperation,
        &syms!["operationName", "OperationName"],
    );
}

fn auth0<'e>(e: Fields<'_, 'e>, out: &mut Entities<'e>) {
    // Log streams wrap the log in `data`.
    let names = [
        syms!["user_name", "user_id", "ip", "user_agent", "hostname"],
        syms![
            "data.user_name",
            "data.user_id",
            "data.ip",
            "data.user_agent",
            "data.hostname"
        ],
    ];
    for [user_name, user_id, ip, user_agent, hostname] in names {
        if let Some(user) = e.text(user_name) {
            out.add_str(F::ActorUserName, user);
            if user.contains('@') {
                out.add_str(F::ActorUserEmail, user);
            }
        }
        e.put(out, F::ActorUserUid, &[user_id]);
        e.put(out, F::SrcIp, &[ip]);
        e.put(out, F::UserAgent, &[user_agent]);
        // The tenant's own host name (`example.auth0.com`), the side that was called.
        e.put(out, F::DstHostname, &[hostname]);
    }
}
