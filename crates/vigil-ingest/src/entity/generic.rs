//! Any other JSON record (no known logsource): the host, address and user names common across
//! exporters (Log Analytics `Computer`/`HostName`/`HostIP`, ECS `host.name`/`source.ip`, the
//! usual `src_ip`/`dest_ip`), so that even an unrecognised source yields its obvious entities.

use vigil_core::{Entities, EntityField as F};

use super::Fields;

pub(super) fn extract<'e>(e: Fields<'_, 'e>, out: &mut Entities<'e>) {
    e.put(
        out,
        F::DeviceHostname,
        &syms![
            "Computer",
            "HostName",
            "host.name",
            "hostname",
            "host.hostname",
        ],
    );
    e.put(out, F::DeviceIp, &syms!["HostIP", "host.ip"]);
    e.put(
        out,
        F::SrcIp,
        &syms!["source.ip", "src_ip", "SrcIpAddr", "ClientIP", "client_ip"],
    );
    e.put(
        out,
        F::SrcPort,
        &syms!["source.port", "src_port", "SrcPortNumber"],
    );
    e.put(
        out,
        F::DstIp,
        &syms!["destination.ip", "dest_ip", "dst_ip", "DstIpAddr"],
    );
    e.put(
        out,
        F::DstPort,
        &syms!["destination.port", "dest_port", "dst_port", "DstPortNumber"],
    );
    e.put(
        out,
        F::ActorUserName,
        &syms!["user.name", "UserName", "user_name", "AccountName"],
    );
    e.put(out, F::ProcessName, &syms!["ProcessName", "process.name"]);
    e.put(out, F::ProcessPid, &syms!["ProcessID", "process.pid"]);
    e.put(out, F::ProcessCmdLine, &syms!["process.command_line"]);
}
