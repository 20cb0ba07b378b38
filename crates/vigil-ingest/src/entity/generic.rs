//! Any other JSON record (no known logsource): the host, address and user names common across
//! exporters (Log Analytics `Computer`/`HostName`/`HostIP`, ECS `host.name`/`source.ip`, the
//! usual `src_ip`/`dest_ip`), so that even an unrecognised source yields its obvious entities.

use vigil_core::{Entities, EntityField as F};

use super::Fields;

pub(super) fn extract<'e>(e: Fields<'e>, out: &mut Entities<'e>) {
    e.put(
        out,
        F::DeviceHostname,
        &[
            "Computer",
            "HostName",
            "host.name",
            "hostname",
            "host.hostname",
        ],
    );
    e.put(out, F::DeviceIp, &["HostIP", "host.ip"]);
    e.put(
        out,
        F::SrcIp,
        &["source.ip", "src_ip", "SrcIpAddr", "ClientIP", "client_ip"],
    );
    e.put(
        out,
        F::SrcPort,
        &["source.port", "src_port", "SrcPortNumber"],
    );
    e.put(
        out,
        F::DstIp,
        &["destination.ip", "dest_ip", "dst_ip", "DstIpAddr"],
    );
    e.put(
        out,
        F::DstPort,
        &["destination.port", "dest_port", "dst_port", "DstPortNumber"],
    );
    e.put(
        out,
        F::ActorUserName,
        &["user.name", "UserName", "user_name", "AccountName"],
    );
    e.put(out, F::ProcessName, &["ProcessName", "process.name"]);
    e.put(out, F::ProcessPid, &["ProcessID", "process.pid"]);
    e.put(out, F::ProcessCmdLine, &["process.command_line"]);
}
