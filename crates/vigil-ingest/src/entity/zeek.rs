//! Zeek logs (TSV and JSON share Zeek's field names): the connection tuple every log with an
//! `id` carries, and what conn, dns, http, ssl, files, dhcp, notice and ntlm add.

use vigil_core::{Entities, EntityField as F, HashAlgorithm, Value};

use super::{Fields, basename, url_from_parts};

pub(super) fn extract<'e>(e: Fields<'_, 'e>, out: &mut Entities<'e>) {
    // The connection: originator → responder. dhcp names them client/server; notice
    // `src`/`dst`/`p`; files the transmitting and receiving hosts (first of each set); arp
    // `orig_h`/`resp_h`.
    e.put(
        out,
        F::SrcIp,
        &syms!["id.orig_h", "client_addr", "src", "tx_hosts", "orig_h"],
    );
    e.put(out, F::SrcPort, &syms!["id.orig_p"]);
    e.put(
        out,
        F::DstIp,
        &syms!["id.resp_h", "server_addr", "dst", "rx_hosts", "resp_h"],
    );
    e.put(out, F::DstPort, &syms!["id.resp_p", "p"]);
    // known_services: a server (`host`) offering `port_num`. software: `host` runs it, as a
    // client (`SSH::CLIENT`, `HTTP::BROWSER`) or a server.
    if e.get(sym!("port_num")).is_some() {
        e.put(out, F::DstIp, &syms!["host"]);
        e.put(out, F::DstPort, &syms!["port_num"]);
    } else if let Some(kind) = e.text(sym!("software_type")) {
        let (ip, port) = if kind.ends_with("CLIENT") || kind.ends_with("BROWSER") {
            (F::SrcIp, F::SrcPort)
        } else {
            (F::DstIp, F::DstPort)
        };
        e.put(out, ip, &syms!["host"]);
        e.put(out, port, &syms!["host_p"]);
    }
    e.put(out, F::SrcHostname, &syms!["host_name"]);

    // dns.log
    e.put(out, F::QueryHostname, &syms!["query"]);

    // http.log: `host` (the Host header) and `uri` make the URL.
    if let Some(uri) = e.text(sym!("uri")) {
        let host = e.text(sym!("host")).unwrap_or_default();
        let port = e.get(sym!("id.resp_p")).and_then(|v| match v {
            Value::Int(p) => Some(*p),
            _ => None,
        });
        if let Some(url) = url_from_parts(host, port, uri) {
            out.add_string(F::UrlString, url);
        }
        e.put(out, F::UrlHostname, &syms!["host"]);
    }
    e.put(out, F::UserAgent, &syms!["user_agent"]);

    // ssl.log
    e.put(out, F::TlsSni, &syms!["server_name"]);
    e.put(out, F::TlsJa3, &syms!["ja3"]);
    e.put(out, F::TlsJa3s, &syms!["ja3s"]);

    // files.log (and the hash columns other logs copy from it)
    for (name, alg) in [
        (sym!("md5"), HashAlgorithm::Md5),
        (sym!("sha1"), HashAlgorithm::Sha1),
        (sym!("sha256"), HashAlgorithm::Sha256),
    ] {
        e.put(out, F::FileHash(alg), &[name]);
    }
    if let Some(name) = e.text(sym!("filename")) {
        out.add_str(F::FileName, basename(name));
    }

    // ntlm.log / kerberos.log: the account that authenticated.
    e.put(out, F::UserName, &syms!["username"]);
    e.put(out, F::UserDomain, &syms!["domainname"]);
}
