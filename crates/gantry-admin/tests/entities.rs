//! Entity endpoints over real HTTP: Kong's example objects, PUT/PATCH/DELETE
//! semantics, nested and parent endpoints, targets, credentials.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{scrub, start};
use serde_json::{Value, json};

#[tokio::test]
async fn post_service_matches_kong_example() {
    let a = start().await;
    let r = a
        .post(
            "/services",
            json!({"name":"s1","url":"http://httpbin.org/anything"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    let v = r.json();
    assert!(v["created_at"].is_i64());
    assert_eq!(
        scrub(&v),
        json!({"id":"<id>","created_at":"<created_at>","updated_at":"<updated_at>","name":"s1","retries":5,
         "protocol":"http","host":"httpbin.org","port":80,"path":"/anything",
         "connect_timeout":60000,"write_timeout":60000,"read_timeout":60000,"tags":null,
         "client_certificate":null,"tls_verify":null,"tls_verify_depth":null,
         "ca_certificates":null,"enabled":true})
    );
    // by id and by name
    let id = v["id"].as_str().unwrap();
    assert_eq!(a.get(&format!("/services/{id}")).await.json(), v);
    assert_eq!(a.get("/services/s1").await.json(), v);
}

#[tokio::test]
async fn nested_route_plugin_consumer_key_auth() {
    let a = start().await;
    let s = a
        .create(
            "/services",
            json!({"name":"s1","url":"http://httpbin.org/anything"}),
        )
        .await;
    let route = a
        .create("/services/s1/routes", json!({"paths":["/x"]}))
        .await;
    assert_eq!(
        scrub(&route),
        json!({"id":"<id>","created_at":"<created_at>","updated_at":"<updated_at>","name":null,
         "protocols":["http","https"],"methods":null,"hosts":null,"paths":["/x"],"headers":null,
         "snis":null,"sources":null,"destinations":null,"https_redirect_status_code":426,
         "regex_priority":0,"strip_path":true,"path_handling":"v0","preserve_host":false,
         "request_buffering":true,"response_buffering":true,"tags":null,
         "service":{"id":"<id>"}})
    );
    assert_eq!(route["service"]["id"], s["id"]);

    let p = a
        .create("/services/s1/plugins", json!({"name":"key-auth"}))
        .await;
    assert_eq!(p["service"]["id"], s["id"]);
    assert_eq!(p["route"], Value::Null);
    assert_eq!(p["consumer"], Value::Null);
    assert_eq!(p["instance_name"], Value::Null);
    assert_eq!(p["protocols"], json!(["grpc", "grpcs", "http", "https"]));
    assert_eq!(p["enabled"], true);
    assert_eq!(p["tags"], Value::Null);
    assert!(p["config"].is_object());

    let c = a.create("/consumers", json!({"username":"alice"})).await;
    assert_eq!(
        scrub(&c),
        json!({"id":"<id>","created_at":"<created_at>","updated_at":"<updated_at>","username":"alice","custom_id":null,"tags":null})
    );
    let k = a.create("/consumers/alice/key-auth", json!({})).await;
    assert_eq!(k["consumer"]["id"], c["id"]);
    assert_eq!(k["key"].as_str().unwrap().len(), 32);
    assert_eq!(k["tags"], Value::Null);
    assert!(k.get("updated_at").is_none());

    // nested reads
    let routes = a.get("/services/s1/routes").await.json();
    assert_eq!(routes["data"].as_array().unwrap().len(), 1);
    assert_eq!(routes["next"], Value::Null);
    assert!(routes.get("offset").is_none());
    let rid = route["id"].as_str().unwrap();
    assert_eq!(
        a.get(&format!("/services/s1/routes/{rid}")).await.status,
        200
    );
    assert_eq!(
        a.get(&format!("/routes/{rid}/service")).await.json()["name"],
        "s1"
    );
    let key = k["key"].as_str().unwrap();
    assert_eq!(
        a.get(&format!("/consumers/alice/key-auth/{key}"))
            .await
            .status,
        200
    );
    assert_eq!(
        a.get(&format!("/key-auths/{key}")).await.json()["id"],
        k["id"]
    );
    assert_eq!(
        a.get(&format!("/key-auths/{key}/consumer")).await.json()["username"],
        "alice"
    );
    assert_eq!(
        a.get("/services/s1/plugins").await.json()["data"][0]["id"],
        p["id"]
    );
    // a child under the wrong parent is not found
    a.create("/services", json!({"name":"s2","host":"example.com"}))
        .await;
    assert_eq!(
        a.get(&format!("/services/s2/routes/{rid}")).await.status,
        404
    );
    assert_eq!(a.get("/services/nope/routes").await.status, 404);
    assert_eq!(
        a.post("/services/nope/routes", json!({"paths":["/y"]}))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn put_is_full_replace_and_url_key_wins() {
    let a = start().await;
    let r = a
        .put("/services/foo", json!({"host":"a.com","retries":3}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let first = r.json();
    assert_eq!(first["name"], "foo");
    assert_eq!(first["retries"], 3);
    // replace: omitted fields go back to defaults, same id; body name ignored
    let r = a
        .put("/services/foo", json!({"host":"b.com","name":"other"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let second = r.json();
    assert_eq!(second["id"], first["id"]);
    assert_eq!(second["name"], "foo");
    assert_eq!(second["host"], "b.com");
    assert_eq!(second["retries"], 5);
    assert_eq!(second["created_at"], first["created_at"]);
    // PUT by a new uuid creates with that id
    let id = "9b0d1c5e-3f5c-4a8e-9d1f-2a7c3e5b6d70";
    let r = a
        .put(&format!("/services/{id}"), json!({"host":"c.com"}))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["id"], id);
    assert_eq!(
        a.get("/services").await.json()["data"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn patch_merges_records_and_replaces_arrays() {
    let a = start().await;
    a.create(
        "/services",
        json!({"name":"s","host":"a.com","tags":["a","b"]}),
    )
    .await;
    let r = a
        .patch("/services/s", json!({"port":8080,"tags":["c"]}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["port"], 8080);
    assert_eq!(v["host"], "a.com");
    assert_eq!(v["tags"], json!(["c"]));

    let up = a
        .create(
            "/upstreams",
            json!({"name":"u.internal","healthchecks":{"active":{"timeout":5}}}),
        )
        .await;
    let r = a
        .patch(
            "/upstreams/u.internal",
            json!({"healthchecks":{"active":{"concurrency":3}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["healthchecks"]["active"]["timeout"], 5);
    assert_eq!(v["healthchecks"]["active"]["concurrency"], 3);
    assert_eq!(v["id"], up["id"]);

    let p = a
        .create(
            "/plugins",
            json!({"name":"rate-limiting","config":{"minute":5,"policy":"local"}}),
        )
        .await;
    let pid = p["id"].as_str().unwrap();
    let v = a
        .patch(&format!("/plugins/{pid}"), json!({"config":{"hour":100}}))
        .await
        .json();
    assert_eq!(v["config"], json!({"minute":5,"policy":"local","hour":100}));
    assert_eq!(v["name"], "rate-limiting");

    // missing entity: Kong's code 6
    let r = a.patch("/services/nope", json!({"port":1})).await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json(),
        json!({"code":6,"name":"not found","message":"could not find the entity with '{name=\"nope\"}'","fields":{"name":"nope"}})
    );
}

#[tokio::test]
async fn delete_semantics() {
    let a = start().await;
    a.create("/services", json!({"name":"s","host":"a.com"}))
        .await;
    let route = a
        .create("/services/s/routes", json!({"name":"r","paths":["/"]}))
        .await;
    // restricted delete: a service with routes
    let r = a.delete("/services/s").await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({"code":4,"name":"foreign key violation","message":"an existing 'routes' entity references this 'services' entity","fields":{"@referenced_by":"routes"}})
    );
    // DELETE on the parent-of-child endpoint is not allowed
    assert_eq!(a.delete("/routes/r/service").await.status, 405);
    assert_eq!(
        a.delete(&format!(
            "/services/s/routes/{}",
            route["id"].as_str().unwrap()
        ))
        .await
        .status,
        204
    );
    assert_eq!(a.get("/routes/r").await.status, 404);
    assert_eq!(a.delete("/services/s").await.status, 204);
    // deleting what does not exist is still 204 at the top level, 404 nested
    assert_eq!(a.delete("/services/s").await.status, 204);
    a.create("/services", json!({"name":"t","host":"a.com"}))
        .await;
    assert_eq!(a.delete("/services/t/routes/r").await.status, 404);
}

#[tokio::test]
async fn cascade_delete_of_consumer_credentials() {
    let a = start().await;
    a.create("/consumers", json!({"username":"bob"})).await;
    let k = a
        .create("/consumers/bob/key-auth", json!({"key":"secret-key"}))
        .await;
    assert_eq!(k["key"], "secret-key");
    a.create("/consumers/bob/acls", json!({"group":"admins"}))
        .await;
    assert_eq!(
        a.get("/consumers/bob/acls/admins").await.json()["group"],
        "admins"
    );
    assert_eq!(a.delete("/consumers/bob").await.status, 204);
    assert_eq!(a.get("/key-auths/secret-key").await.status, 404);
    assert_eq!(a.get("/acls").await.json()["data"], json!([]));
}

#[tokio::test]
async fn foreign_keys_by_endpoint_key() {
    let a = start().await;
    let s = a
        .create("/services", json!({"name":"svc","host":"a.com"}))
        .await;
    let r = a
        .create("/routes", json!({"paths":["/a"],"service":{"name":"svc"}}))
        .await;
    assert_eq!(r["service"], json!({"id": s["id"]}));
    let r = a
        .post(
            "/routes",
            json!({"paths":["/b"],"service":{"name":"missing"}}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({"code":13,"name":"foreign keys unresolved",
            "message":"foreign key unresolved (service.name: the foreign key cannot be resolved with '{name=\"missing\"}' for an existing 'services' entity)",
            "fields":{"service":{"name":"the foreign key cannot be resolved with '{name=\"missing\"}' for an existing 'services' entity"}}})
    );
    // a well-formed id that does not exist: code 4
    let r = a
        .post(
            "/routes",
            json!({"paths":["/c"],"service":{"id":"00000000-0000-4000-8000-000000000000"}}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["code"], 4);
}

#[tokio::test]
async fn parent_endpoint_put_creates_and_links() {
    let a = start().await;
    let route = a
        .create("/routes", json!({"name":"lonely","paths":["/l"]}))
        .await;
    assert_eq!(a.get("/routes/lonely/service").await.status, 404);
    let r = a
        .put(
            "/routes/lonely/service",
            json!({"name":"made","host":"m.com"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let svc = r.json();
    let linked = a.get("/routes/lonely").await.json();
    assert_eq!(linked["service"]["id"], svc["id"]);
    assert_eq!(linked["id"], route["id"]);
    let r = a.patch("/routes/lonely/service", json!({"port":81})).await;
    assert_eq!(r.json()["port"], 81);
}

#[tokio::test]
async fn targets_under_upstreams() {
    let a = start().await;
    a.create("/upstreams", json!({"name":"up"})).await;
    let t = a
        .create("/upstreams/up/targets", json!({"target":"10.0.0.1"}))
        .await;
    assert_eq!(t["target"], "10.0.0.1:8000");
    assert_eq!(t["weight"], 100);
    assert!(t["created_at"].is_f64() || t["created_at"].is_number());
    // duplicate target: 409
    assert_eq!(
        a.post("/upstreams/up/targets", json!({"target":"10.0.0.1:8000"}))
            .await
            .status,
        409
    );
    // by target string (with or without the default port) and by id
    assert_eq!(
        a.get("/upstreams/up/targets/10.0.0.1:8000").await.json()["id"],
        t["id"]
    );
    assert_eq!(
        a.get("/upstreams/up/targets/10.0.0.1").await.json()["id"],
        t["id"]
    );
    let tid = t["id"].as_str().unwrap();
    assert_eq!(
        a.get(&format!("/upstreams/up/targets/{tid}")).await.status,
        200
    );
    // PUT and PATCH both update
    let r = a
        .put("/upstreams/up/targets/10.0.0.1:8000", json!({"weight":5}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["weight"], 5);
    let r = a
        .patch(&format!("/upstreams/up/targets/{tid}"), json!({"weight":7}))
        .await;
    assert_eq!(r.json()["weight"], 7);
    assert_eq!(
        a.get("/upstreams/up/targets/all").await.json()["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // top-level /targets is disabled
    assert_eq!(a.get("/targets").await.status, 404);
    assert_eq!(
        a.get(&format!("/targets/{tid}")).await.json(),
        json!({"message":"Not found"})
    );
    assert_eq!(
        a.delete("/upstreams/up/targets/10.0.0.1:8000").await.status,
        204
    );
    assert_eq!(
        a.get("/upstreams/up/targets").await.json()["data"],
        json!([])
    );
}

#[tokio::test]
async fn basic_auth_password_is_hashed() {
    let a = start().await;
    let c = a.create("/consumers", json!({"username":"u"})).await;
    let b = a
        .create(
            "/consumers/u/basic-auth",
            json!({"username":"user","password":"pw"}),
        )
        .await;
    let mut h = sha1_hex(&format!("pw{}", c["id"].as_str().unwrap()));
    assert_eq!(b["password"], Value::String(h.clone()));
    // PATCH without password keeps the hash; with one re-hashes
    let v = a
        .patch("/basic-auths/user", json!({"tags":["t"]}))
        .await
        .json();
    assert_eq!(v["password"], Value::String(h.clone()));
    h = sha1_hex(&format!("new{}", c["id"].as_str().unwrap()));
    let v = a
        .patch("/basic-auths/user", json!({"password":"new"}))
        .await
        .json();
    assert_eq!(v["password"], Value::String(h));
}

fn sha1_hex(s: &str) -> String {
    let mut h = sha1_smol::Sha1::new();
    h.update(s.as_bytes());
    h.digest().to_string()
}

#[tokio::test]
async fn certificates_snis_and_addressing_by_sni_name() {
    let a = start().await;
    let cert = "-----BEGIN CERTIFICATE-----\nMIIBhTCCASugAwIBAgIUCUrljYi2my5vMnonSKsHJEmKx9MwCgYIKoZIzj0EAwIw\nFzEVMBMGA1UEAwwMZXhhbXBsZS50ZXN0MCAXDTI2MTEyMjA2NTY1NFoYDzIxMjYx\nMDI5MDY1NjU0WjAXMRUwEwYDVQQDDAxleGFtcGxlLnRlc3QwWTATBgcqhkjOPQIB\nBggqhkjOPQMBBwNCAAQjx8E38CnDUYbtGQbLvVD2Qtsl0vmNFFDgWMCmQqgTuWnA\nzLm2XVkx1HvI88n2dI9xtWIhc44Q4MjfIN2/OQ/Zo1MwUTAdBgNVHQ4EFgQUNGp4\nqS5YLgg3ju5mY0V+UTF1Yk8wHwYDVR0jBBgwFoAUNGp4qS5YLgg3ju5mY0V+UTF1\nYk8wDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiEA7mXkU87ib+d2\nu9NLNek0jTEjWxVc88I/usR4kEE2SpgCIHotJokEfMW6tTcX5gzF/ivQPcI+cQ4L\nRWmm2WbddI+x\n-----END CERTIFICATE-----\n";
    let key = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgPINIHvJaE2l/TWdO\n4ohw36l9Vc0Ig23dqmfm7Mt6AOmhRANCAAQjx8E38CnDUYbtGQbLvVD2Qtsl0vmN\nFFDgWMCmQqgTuWnAzLm2XVkx1HvI88n2dI9xtWIhc44Q4MjfIN2/OQ/Z\n-----END PRIVATE KEY-----\n";
    let c = a
        .create(
            "/certificates",
            json!({"cert":cert,"key":key,"snis":["b.com","a.com"]}),
        )
        .await;
    assert_eq!(c["snis"], json!(["a.com", "b.com"]));
    let cid = c["id"].as_str().unwrap();
    // A key that is not the certificate's is refused, and nothing is written.
    let other_key = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgzuec6EJZdcF9jz0Z\n7MDXQ+PZ9d/Tz2WyrNdWwuGIPC6hRANCAARLrwWPoAupPs1ez0QmZHBAFnojei4T\nplyuaRaTGsqORADQo8Y8OLUbhXWfVbxku6G62E/FiMGzUAfqhnRNop1K\n-----END PRIVATE KEY-----\n";
    let r = a
        .post(
            "/certificates",
            json!({"cert":cert,"key":other_key,"snis":["c.com"]}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["fields"]["@entity"],
        json!(["certificate does not match key"])
    );
    assert_eq!(a.get("/snis/c.com").await.status, 404);
    assert_eq!(
        a.get("/snis/a.com").await.json()["certificate"]["id"],
        c["id"]
    );
    let sni = a
        .create(
            &format!("/certificates/{cid}/snis"),
            json!({"name":"example.com"}),
        )
        .await;
    assert_eq!(sni["certificate"]["id"], c["id"]);
    assert_eq!(
        a.get("/certificates/example.com").await.json()["id"],
        c["id"]
    );
    assert_eq!(
        a.get(&format!("/certificates/{cid}")).await.json()["snis"],
        json!(["a.com", "b.com", "example.com"])
    );
    assert_eq!(
        a.get("/certificates").await.json()["data"][0]["snis"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let r = a.get("/certificates/unknown.com").await;
    assert_eq!(
        (r.status, r.json()),
        (404, json!({"message":"SNI not found"}))
    );
    // PATCH replaces the list when given
    let v = a
        .patch(&format!("/certificates/{cid}"), json!({"snis":["a.com"]}))
        .await
        .json();
    assert_eq!(v["snis"], json!(["a.com"]));
    assert_eq!(a.get("/snis/b.com").await.status, 404);
    // an SNI owned by another certificate is a conflict, and nothing changes
    let before = a.dump().await;
    let r = a
        .post(
            "/certificates",
            json!({"cert":cert,"key":key,"snis":["a.com"]}),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text());
    let r = a
        .post(
            "/certificates",
            json!({"cert":cert,"key":key,"snis":["bad name!"]}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["code"], 2);
    assert_eq!(a.dump().await, before);
    // PUT by an unknown SNI name creates a certificate with that SNI
    let r = a
        .put("/certificates/new.com", json!({"cert":cert,"key":key}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["snis"], json!(["new.com"]));
    assert_ne!(v["id"], c["id"]);
    // PUT by a known SNI name replaces that certificate and keeps the SNI
    let v = a
        .put("/certificates/a.com", json!({"cert":cert,"key":key}))
        .await
        .json();
    assert_eq!(v["id"], c["id"]);
    assert_eq!(v["snis"], json!(["a.com"]));
}

#[tokio::test]
async fn acls_by_group_under_consumer() {
    let a = start().await;
    a.create("/consumers", json!({"username":"u"})).await;
    let r = a
        .put("/consumers/u/acls/admins", json!({"tags":["x"]}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let first = r.json();
    assert_eq!(first["group"], "admins");
    let again = a.put("/consumers/u/acls/admins", json!({})).await.json();
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["tags"], Value::Null);
    assert_eq!(
        a.patch("/consumers/u/acls/admins", json!({"tags":["y"]}))
            .await
            .json()["tags"],
        json!(["y"])
    );
    assert_eq!(a.delete("/consumers/u/acls/admins").await.status, 204);
    assert_eq!(a.get("/consumers/u/acls/admins").await.status, 404);
}

/// Kong refuses to delete a CA certificate a service still lists in `ca_certificates`.
#[tokio::test]
async fn ca_certificates_in_use_cannot_be_deleted() {
    let a = start().await;
    let ca = a
        .create("/ca_certificates", json!({"cert": "-----BEGIN CERTIFICATE-----\nMIIBhTCCASugAwIBAgIUCUrljYi2my5vMnonSKsHJEmKx9MwCgYIKoZIzj0EAwIw\nFzEVMBMGA1UEAwwMZXhhbXBsZS50ZXN0MCAXDTI2MTEyMjA2NTY1NFoYDzIxMjYx\nMDI5MDY1NjU0WjAXMRUwEwYDVQQDDAxleGFtcGxlLnRlc3QwWTATBgcqhkjOPQIB\nBggqhkjOPQMBBwNCAAQjx8E38CnDUYbtGQbLvVD2Qtsl0vmNFFDgWMCmQqgTuWnA\nzLm2XVkx1HvI88n2dI9xtWIhc44Q4MjfIN2/OQ/Zo1MwUTAdBgNVHQ4EFgQUNGp4\nqS5YLgg3ju5mY0V+UTF1Yk8wHwYDVR0jBBgwFoAUNGp4qS5YLgg3ju5mY0V+UTF1\nYk8wDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiEA7mXkU87ib+d2\nu9NLNek0jTEjWxVc88I/usR4kEE2SpgCIHotJokEfMW6tTcX5gzF/ivQPcI+cQ4L\nRWmm2WbddI+x\n-----END CERTIFICATE-----\n"}))
        .await;
    let ca_id = ca["id"].as_str().unwrap().to_string();
    let svc = a
        .create(
            "/services",
            json!({"name": "s", "url": "https://example.com", "ca_certificates": [ca_id]}),
        )
        .await;
    let r = a.delete(&format!("/ca_certificates/{ca_id}")).await;
    assert_eq!(r.status, 400);
    let body = r.json();
    assert_eq!(body["code"], 19);
    assert_eq!(body["name"], "referenced by others");
    assert_eq!(
        body["message"],
        format!(
            "ca certificate {ca_id} is still referenced by services (id = {})",
            svc["id"].as_str().unwrap()
        )
    );
    assert_eq!(
        a.get(&format!("/ca_certificates/{ca_id}")).await.status,
        200
    );
    assert_eq!(a.delete("/services/s").await.status, 204);
    assert_eq!(
        a.delete(&format!("/ca_certificates/{ca_id}")).await.status,
        204
    );
}
