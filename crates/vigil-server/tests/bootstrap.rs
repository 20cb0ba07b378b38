//! The bootstrap admin token and what the token file keeps.

mod common;

use common::TestServer;
use reqwest::StatusCode;
use vigil_server::{Limits, Role, create_token, ensure_bootstrap_admin, list_tokens, revoke_token};

#[tokio::test]
async fn bootstrap_admin_is_issued_once_and_works() {
    let mut srv = TestServer::start(Limits::default()).await;
    let admin = ensure_bootstrap_admin(srv.data_dir())
        .unwrap()
        .expect("first start issues one");
    assert_eq!(admin.info.role, Role::Admin);
    let me: serde_json::Value = srv
        .get("/api/v1/whoami", &admin.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["role"], "admin");
    assert!(ensure_bootstrap_admin(srv.data_dir()).unwrap().is_none());
    // Revoking every token does not bring a new bootstrap token back.
    revoke_token(srv.data_dir(), &admin.info.id).unwrap();
    assert!(ensure_bootstrap_admin(srv.data_dir()).unwrap().is_none());
    let r = srv.get("/api/v1/whoami", &admin.token).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    srv.stop().await;
}

#[test]
fn no_bootstrap_when_tokens_were_created_first() {
    let dir = tempfile::tempdir().unwrap();
    create_token(dir.path(), Role::Admin, "made by hand", None).unwrap();
    assert!(ensure_bootstrap_admin(dir.path()).unwrap().is_none());
    assert_eq!(list_tokens(dir.path()).unwrap().len(), 1);
}

#[test]
fn token_file_holds_no_plaintext_and_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let mut issued = vec![ensure_bootstrap_admin(dir.path()).unwrap().unwrap()];
    for role in Role::ALL {
        issued.push(create_token(dir.path(), role, &format!("{role} holder"), None).unwrap());
    }
    let text = std::fs::read_to_string(dir.path().join("tokens.json")).unwrap();
    let audit = std::fs::read_to_string(vigil_server::audit_log_path(dir.path())).unwrap();
    for t in &issued {
        // vgl_ + 12-digit id + _ ; the secret's base64url alphabet may itself hold '_'.
        let secret = &t.token["vgl_".len() + 12 + 1..];
        assert!(secret.len() >= 43);
        assert!(!text.contains(secret), "tokens.json holds a secret");
        assert!(!audit.contains(secret), "audit.log holds a secret");
        assert!(text.contains(&t.info.id));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in ["tokens.json", "audit.log"] {
            let mode = std::fs::metadata(dir.path().join(f))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
    }
    assert_eq!(
        vigil_server::verify(&vigil_server::audit_log_path(dir.path()))
            .unwrap()
            .records,
        5
    );
}
