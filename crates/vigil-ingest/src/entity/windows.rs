//! Windows events (EVTX and its JSON renderings, which share field names): Sysmon, Security,
//! System and PowerShell fields into OCSF names.

use vigil_core::{Entities, EntityField as F, HashAlgorithm, Value};

use super::{Fields, put_account, put_path};

const NULL_SID: &str = "S-1-0-0";

pub(super) fn extract<'e>(e: Fields<'_, 'e>, out: &mut Entities<'e>) {
    e.put(out, F::DeviceHostname, &syms!["Computer"]);
    let event_id = e.get(sym!("EventID")).and_then(|v| match v {
        Value::Int(i) => Some(*i),
        _ => None,
    });
    let provider = e.text(sym!("Provider_Name")).unwrap_or_default();
    // Sysmon for Linux (`Linux-Sysmon`) shares the field names; its `User` is a bare name.
    let sysmon = provider.eq_ignore_ascii_case("Microsoft-Windows-Sysmon")
        || provider.eq_ignore_ascii_case("Linux-Sysmon");

    // The process the event is about. Security 4688 names the new process `NewProcessName`
    // and its creator `ProcessId`/`ParentProcessName`; elsewhere `ProcessName`/`ProcessId`
    // (4624, 4625, 4648, 4663…) or `Application`/`ProcessID` (5156) are the acting process.
    // Sysmon 8/10 (remote thread, process access) act from `SourceImage`.
    if let Some(path) = e.first_text(&syms!["Image", "NewProcessName", "SourceImage"]) {
        put_path(out, F::ProcessPath, F::ProcessName, path);
        if e.get(sym!("NewProcessName")).is_some() {
            e.put(out, F::ProcessPid, &syms!["NewProcessId"]);
        } else {
            e.put(out, F::ProcessPid, &syms!["ProcessId", "SourceProcessId"]);
        }
        if e.get(sym!("NewProcessName")).is_some() {
            if let Some(parent) = e.text(sym!("ParentProcessName")) {
                put_path(out, F::ParentPath, F::ParentName, parent);
            }
            e.put(out, F::ParentPid, &syms!["ProcessId"]);
        }
    } else if let Some(path) = e.first_text(&syms!["ProcessName", "Application"]) {
        put_path(out, F::ProcessPath, F::ProcessName, path);
        e.put(out, F::ProcessPid, &syms!["ProcessId", "ProcessID"]);
    }
    e.put(out, F::ProcessCmdLine, &syms!["CommandLine"]);
    e.put(
        out,
        F::ProcessUid,
        &syms!["ProcessGuid", "SourceProcessGuid"],
    );
    if let Some(parent) = e.text(sym!("ParentImage")) {
        put_path(out, F::ParentPath, F::ParentName, parent);
    }
    e.put(out, F::ParentCmdLine, &syms!["ParentCommandLine"]);
    e.put(out, F::ParentPid, &syms!["ParentProcessId"]);
    e.put(out, F::ParentUid, &syms!["ParentProcessGuid"]);

    // Users: Sysmon's `User` is `DOMAIN\name`; Security's Subject* is who acted and Target*
    // whom it acted on (the account logged on, created, changed).
    if let Some(user) = e.text(sym!("User")).filter(|_| sysmon) {
        put_account(out, F::ActorUserName, F::ActorUserDomain, user);
    }
    e.put(out, F::ActorUserName, &syms!["SubjectUserName"]);
    e.put(out, F::ActorUserDomain, &syms!["SubjectDomainName"]);
    // S-1-0-0 is the NULL SID Windows writes when there is no account.
    if let Some(sid) = e.text(sym!("SubjectUserSid")).filter(|s| *s != NULL_SID) {
        out.add_str(F::ActorUserUid, sid);
    }
    e.put(out, F::UserName, &syms!["TargetUserName"]);
    e.put(out, F::UserDomain, &syms!["TargetDomainName"]);
    if let Some(sid) = e.text(sym!("TargetUserSid")).filter(|s| *s != NULL_SID) {
        out.add_str(F::UserUid, sid);
    }

    // Network: Sysmon 3, Security logons (4624/4625/4648: `IpAddress`/`IpPort`, Kerberos
    // 4768/4769: `ClientAddress` as `::ffff:a.b.c.d`), WFP 5156 (`SourceAddress`/`DestAddress`).
    e.put(
        out,
        F::SrcIp,
        &syms!["SourceIp", "IpAddress", "ClientAddress", "SourceAddress"],
    );
    e.put(
        out,
        F::SrcPort,
        &syms!["SourcePort", "IpPort", "ClientPort"],
    );
    e.put(
        out,
        F::SrcHostname,
        &syms!["SourceHostname", "WorkstationName", "Workstation"],
    );
    e.put(out, F::DstIp, &syms!["DestinationIp", "DestAddress"]);
    e.put(out, F::DstPort, &syms!["DestinationPort", "DestPort"]);
    e.put(out, F::DstHostname, &syms!["DestinationHostname"]);
    e.put(out, F::QueryHostname, &syms!["QueryName"]);

    // Files: Sysmon 2/11/15/23/26 `TargetFilename`, 6/7 `ImageLoaded`; a service's binary
    // (4697 `ServiceFileName`, 7045 `ImagePath`); a PowerShell script's `Path` (4104); an
    // audited file object (4656/4663 with `ObjectType: File`).
    let file = e
        .first_text(&syms![
            "TargetFilename",
            "ImageLoaded",
            "ServiceFileName",
            "ImagePath",
        ])
        .or_else(|| {
            e.text(sym!("Path"))
                .filter(|_| provider.contains("PowerShell"))
        })
        .or_else(|| {
            e.text(sym!("ObjectName"))
                .filter(|_| e.text(sym!("ObjectType")) == Some("File"))
        });
    if let Some(file) = file {
        put_path(out, F::FilePath, F::FileName, file);
    }

    // Sysmon `Hashes` (`SHA1=…,MD5=…,SHA256=…,IMPHASH=…`): the process image's in event 1,
    // the file's otherwise (6, 7, 15 `Hash`, 23, 26, 29).
    if let Some(hashes) = e.first_text(&syms!["Hashes", "Hash"]) {
        let as_process = event_id == Some(1)
            || (event_id.is_none() && e.get(sym!("Image")).is_some() && file.is_none());
        put_hashes(out, hashes, as_process);
    }
}

/// Adds each `ALG=value` of a Sysmon hash list.
fn put_hashes<'e>(out: &mut Entities<'e>, list: &'e str, process: bool) {
    for pair in list.split(',') {
        let Some((alg, value)) = pair.split_once('=') else {
            continue;
        };
        let Some(alg) = HashAlgorithm::from_name(alg.trim()) else {
            continue;
        };
        let field = if process {
            F::ProcessFileHash(alg)
        } else {
            F::FileHash(alg)
        };
        out.add_str(field, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_lists() {
        let mut out = Entities::new();
        put_hashes(
            &mut out,
            "SHA1=AA,MD5=BB,SHA256=CC,IMPHASH=DD,CRC=EE,junk",
            true,
        );
        assert_eq!(out.len(), 4);
        assert_eq!(
            out.get_str(F::ProcessFileHash(HashAlgorithm::Imphash)),
            Some("DD")
        );
    }
}
