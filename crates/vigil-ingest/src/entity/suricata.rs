//! Suricata EVE records (flattened: `http.hostname`, `tls.ja3.hash`): the flow tuple of every
//! record, and what dns, http, tls and fileinfo records add.

use vigil_core::{Entities, EntityField as F, HashAlgorithm, Value};

use super::{Fields, basename, url_from_parts};

pub(super) fn extract<'e>(e: Fields<'_, 'e>, out: &mut Entities<'e>) {
    // EVE's `host` is the sensor's name (`sensor-name` in suricata.yaml).
    e.put(out, F::DeviceHostname, &syms!["host"]);
    e.put(out, F::SrcIp, &syms!["src_ip"]);
    e.put(out, F::SrcPort, &syms!["src_port"]);
    e.put(out, F::DstIp, &syms!["dest_ip"]);
    e.put(out, F::DstPort, &syms!["dest_port"]);

    // dns: EVE v1/v2 put the name in `dns.rrname`; v3 (Suricata 8) in `dns.queries[].rrname`.
    e.put(
        out,
        F::QueryHostname,
        &syms!["dns.rrname", "dns.queries.rrname"],
    );

    // http (also on fileinfo and alert records with HTTP metadata)
    if let Some(path) = e.text(sym!("http.url")) {
        let host = e.text(sym!("http.hostname")).unwrap_or_default();
        let port = e
            .first(&syms!["http.http_port", "dest_port"])
            .and_then(|v| match v {
                Value::Int(p) => Some(*p),
                _ => None,
            });
        if let Some(url) = url_from_parts(host, port, path) {
            out.add_string(F::UrlString, url);
        }
    }
    e.put(out, F::UrlHostname, &syms!["http.hostname"]);
    e.put(out, F::UserAgent, &syms!["http.http_user_agent"]);

    // tls
    e.put(out, F::TlsSni, &syms!["tls.sni"]);
    e.put(out, F::TlsJa3, &syms!["tls.ja3.hash"]);
    e.put(out, F::TlsJa3s, &syms!["tls.ja3s.hash"]);

    // fileinfo: `filename` is the name as the protocol carried it (an HTTP path).
    if let Some(name) = e.text(sym!("fileinfo.filename")) {
        out.add_str(F::FileName, basename(name));
    }
    for (name, alg) in [
        (sym!("fileinfo.md5"), HashAlgorithm::Md5),
        (sym!("fileinfo.sha1"), HashAlgorithm::Sha1),
        (sym!("fileinfo.sha256"), HashAlgorithm::Sha256),
    ] {
        e.put(out, F::FileHash(alg), &[name]);
    }
}
