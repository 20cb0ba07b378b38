//! AWS CloudTrail records: who (`userIdentity`), from where (`sourceIPAddress`, `userAgent`),
//! what (`eventSource`, `eventName`) and in which account and region.

use vigil_core::{Entities, EntityField as F, parse_ip};

use super::Fields;

pub(super) fn extract<'e>(e: Fields<'_, 'e>, out: &mut Entities<'e>) {
    // The ARN identifies any principal (user, assumed role session, root); the name is the
    // IAM user's, else the role's a session was issued by.
    e.put(
        out,
        F::ActorUserUid,
        &syms!["userIdentity.arn", "userIdentity.principalId"],
    );
    e.put(
        out,
        F::ActorUserName,
        &syms![
            "userIdentity.userName",
            "userIdentity.sessionContext.sessionIssuer.userName",
        ],
    );
    e.put(
        out,
        F::ActorUserAccountUid,
        &syms!["userIdentity.accountId"],
    );

    // `sourceIPAddress` is an address, or the DNS name of the AWS service that acted
    // (`ec2.amazonaws.com`, `AWS Internal`): only a name with a dot is a domain.
    if let Some(source) = e.text(sym!("sourceIPAddress")) {
        if parse_ip(source).is_some() {
            out.add_str(F::SrcIp, source);
        } else if source.contains('.') && !source.contains(' ') {
            out.add_str(F::SrcDomain, source);
        }
    }
    e.put(out, F::UserAgent, &syms!["userAgent"]);

    e.put(
        out,
        F::CloudAccountUid,
        &syms!["recipientAccountId", "userIdentity.accountId"],
    );
    e.put(out, F::CloudRegion, &syms!["awsRegion"]);
    out.add_str(F::CloudProvider, "AWS");
    e.put(out, F::ApiOperation, &syms!["eventName"]);
    e.put(out, F::ApiServiceName, &syms!["eventSource"]);
}
