//! Linux: auditd events (records joined by serial), syslog lines with the sshd, sudo, su
//! and pam_unix fields the syslog decoder parses, and Sysmon for Linux events.

use vigil_core::{Entities, EntityField as F, Value, parse_ip};

use super::{Fields, put_path};

pub(super) fn extract<'e>(e: Fields<'_, 'e>, service: Option<&str>, out: &mut Entities<'e>) {
    match service {
        Some("auditd") => auditd(e, out),
        Some("sysmon") => sysmon(e, out),
        _ => syslog(e, service, out),
    }
}

/// Sysmon for Linux names its fields as Sysmon for Windows does (`Image`, `ParentImage`,
/// `TargetFilename`, `DestinationIp`…), so the Windows extractor reads them; the syslog
/// envelope adds the host's address (Sentinel's `HostIP`) and name.
fn sysmon<'e>(e: Fields<'_, 'e>, out: &mut Entities<'e>) {
    super::windows::extract(e, out);
    e.put(out, F::DeviceHostname, &syms!["hostname", "HostName"]);
    e.put(out, F::DeviceIp, &syms!["HostIP"]);
}

fn auditd<'e>(e: Fields<'_, 'e>, out: &mut Entities<'e>) {
    e.put(out, F::DeviceHostname, &syms!["node"]);
    e.put(out, F::ProcessPath, &syms!["exe"]);
    e.put(out, F::ProcessName, &syms!["comm"]);
    e.put(out, F::ProcessPid, &syms!["pid"]);
    e.put(out, F::ParentPid, &syms!["ppid"]);
    // PROCTITLE is the whole argv (decoded, NULs as spaces); EXECVE's aN collide with
    // SYSCALL's pointer arguments a0–a3, so the command line comes from it.
    e.put(out, F::ProcessCmdLine, &syms!["proctitle"]);
    // The uid the process ran as; enriched logs also carry its name (`UID`), USER_* records
    // the account (`acct`). 4294967295 is auditd's "unset".
    if e.text(sym!("uid")) != Some("4294967295") {
        e.put(out, F::ActorUserUid, &syms!["uid"]);
    }
    e.put(out, F::ActorUserName, &syms!["UID", "acct"]);
    // USER_* records: the remote side of a login.
    e.put(out, F::SrcIp, &syms!["addr"]);
    if let Some(host) = e.text(sym!("hostname")).filter(|h| parse_ip(h).is_none()) {
        out.add_str(F::SrcHostname, host);
    }
    // PATH records: the first item (for execve the program run).
    let path = match e.get(sym!("name")) {
        Some(Value::List(items)) => items.first().and_then(Value::as_text),
        Some(v) => v.as_text(),
        None => None,
    };
    if let Some(path) = path {
        put_path(out, F::FilePath, F::FileName, path.as_str());
    }
}

fn syslog<'e>(e: Fields<'_, 'e>, service: Option<&str>, out: &mut Entities<'e>) {
    // Sentinel's Syslog table (JSON) names the host `HostName`/`Computer`, its address `HostIP`.
    e.put(
        out,
        F::DeviceHostname,
        &syms!["hostname", "HostName", "Computer"],
    );
    e.put(out, F::DeviceIp, &syms!["HostIP"]);
    e.put(out, F::ProcessName, &syms!["program"]);
    e.put(out, F::ProcessPid, &syms!["pid"]);
    // sshd's `user` is the account a client tried to log on as (the target); for sudo, su
    // and pam_unix `user` is who acted and `target_user` whom they became.
    if service == Some("sshd") {
        e.put(out, F::UserName, &syms!["user"]);
    } else {
        e.put(out, F::ActorUserName, &syms!["user"]);
    }
    e.put(out, F::UserName, &syms!["target_user"]);
    e.put(out, F::SrcIp, &syms!["src_ip"]);
    e.put(out, F::SrcPort, &syms!["src_port"]);
    if let Some(rhost) = e.text(sym!("rhost"))
        && !out.add_str(F::SrcIp, rhost)
        && parse_ip(rhost).is_none()
    {
        out.add_str(F::SrcHostname, rhost);
    }
    // sudo's COMMAND is the command line it runs.
    e.put(out, F::ProcessCmdLine, &syms!["command"]);
}
