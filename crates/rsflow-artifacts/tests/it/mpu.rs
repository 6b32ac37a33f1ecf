//! S3 multipart uploads with presigned part URLs, as the stock client drives them: create,
//! `PUT` each part to its URL without any credentials, complete (or abort).

use rsflow_artifacts::{ArtifactStore, CompletedPart, GetOptions};

use crate::cases::{p, read};

/// Create, PUT every part to its URL with no credentials (as the client does), complete.
async fn upload_in_parts(
    store: &dyn ArtifactStore,
    path: &str,
    data: &[u8],
    part: usize,
) -> Option<String> {
    let mpu = store
        .multipart()
        .expect("this store offers multipart uploads");
    let path = p(path);
    let n = data.len().div_ceil(part) as u32;
    let upload = mpu.create(&path, n).await.unwrap();
    assert_eq!(upload.credentials.len(), n as usize);
    let client = reqwest::Client::new();
    let mut parts = Vec::new();
    for (cred, chunk) in upload.credentials.iter().zip(data.chunks(part)) {
        let resp = client
            .put(&cred.url)
            .body(chunk.to_vec())
            .send()
            .await
            .unwrap();
        assert!(
            resp.status().is_success(),
            "part {}: {} {}",
            cred.part_number,
            resp.status(),
            cred.url
        );
        let etag = resp
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        parts.push(CompletedPart {
            part_number: cred.part_number,
            etag,
            url: cred.url.clone(),
        });
    }
    parts.reverse(); // the server orders them
    let id = upload.upload_id.clone();
    mpu.complete(&path, id.as_deref().unwrap_or(""), &parts)
        .await
        .unwrap();
    id
}

async fn azure_multipart(store: &dyn ArtifactStore) {
    // Twelve parts: block IDs of equal length past nine (MLflow's own IDs differ there).
    let data: Vec<u8> = (0..12 * 1000 + 7).map(|i| (i % 251) as u8).collect();
    assert_eq!(
        upload_in_parts(store, "mpu/blocks.bin", &data, 1000).await,
        None
    );
    assert_eq!(
        read(store, "mpu/blocks.bin", GetOptions::default())
            .await
            .unwrap(),
        data
    );
    // A part URL that is not one this server issued is refused.
    let mpu = store.multipart().unwrap();
    let forged = CompletedPart {
        part_number: 1,
        etag: String::new(),
        url: "http://elsewhere/c/b?comp=block&blockid=ZXZpbA%3D%3D".into(),
    };
    let e = mpu
        .complete(&p("mpu/x.bin"), "", &[forged])
        .await
        .unwrap_err();
    let m: rsflow_core::MlflowError = e.into();
    assert_eq!(m.http_status(), 400, "{}", m.message);
}

async fn multipart_roundtrip(store: &dyn ArtifactStore) {
    let mpu = store
        .multipart()
        .expect("S3 stores offer multipart uploads");
    const PART: usize = 5 * 1024 * 1024;
    let data: Vec<u8> = (0..PART + 1234).map(|i| (i % 253) as u8).collect();
    let path = p("mpu/big.bin");
    let upload = mpu.create(&path, 2).await.unwrap();
    let id = upload.upload_id.clone().expect("S3 upload ids");
    assert_eq!(upload.credentials.len(), 2);
    let client = reqwest::Client::new();
    let mut parts = Vec::new();
    for (cred, chunk) in upload.credentials.iter().zip(data.chunks(PART)) {
        assert!(cred.url.contains("X-Amz-Signature="), "{}", cred.url);
        let resp = client
            .put(&cred.url)
            .body(chunk.to_vec())
            .send()
            .await
            .unwrap();
        assert!(
            resp.status().is_success(),
            "part {}: {}",
            cred.part_number,
            resp.status()
        );
        let etag = resp.headers()["etag"].to_str().unwrap().to_owned();
        parts.push(CompletedPart {
            part_number: cred.part_number,
            etag,
            url: cred.url.clone(),
        });
    }
    parts.reverse(); // the server orders them
    mpu.complete(&path, &id, &parts).await.unwrap();
    assert_eq!(
        read(store, "mpu/big.bin", GetOptions::default())
            .await
            .unwrap(),
        data
    );

    // An aborted upload cannot be completed, and nothing appears at its path. (What the
    // server answers for it varies: S3 says NoSuchUpload, s3s-fs AccessDenied, moto a 500.)
    let upload = mpu.create(&p("mpu/aborted.bin"), 1).await.unwrap();
    let id = upload.upload_id.unwrap();
    mpu.abort(&p("mpu/aborted.bin"), &id).await.unwrap();
    let e = mpu
        .complete(&p("mpu/aborted.bin"), &id, &[])
        .await
        .expect_err("completing an aborted upload");
    let m: rsflow_core::MlflowError = e.into();
    assert!(matches!(m.http_status(), 400 | 403 | 503), "{}", m.message);
    assert_eq!(store.stat(&p("mpu/aborted.bin")).await.unwrap(), None);
    assert!(mpu.create(&p("mpu/x"), 0).await.is_err());
}

async fn presigned_download(store: &dyn ArtifactStore) {
    store
        .put(&p("pre/a.txt"), crate::cases::body(&[b"presigned bytes"]))
        .await
        .unwrap();
    let signed = store
        .presign_download(&p("pre/a.txt"), std::time::Duration::from_secs(60))
        .await
        .unwrap()
        .expect("S3 presigns downloads");
    assert_eq!(signed.file_size, Some(15));
    let mut req = reqwest::Client::new().get(&signed.url);
    for (k, v) in &signed.headers {
        req = req.header(k, v);
    }
    let resp = req.send().await.unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    assert_eq!(&resp.bytes().await.unwrap()[..], b"presigned bytes");
}

#[tokio::test]
async fn s3s_multipart() {
    if let Some(b) = crate::s3s().await {
        multipart_roundtrip(b.store.as_ref()).await;
    }
}

#[tokio::test]
async fn moto_multipart() {
    if let Some(b) = crate::moto().await {
        multipart_roundtrip(b.store.as_ref()).await;
    }
}

#[tokio::test]
async fn s3s_presigned_download() {
    if let Some(b) = crate::s3s().await {
        presigned_download(b.store.as_ref()).await;
    }
}

#[tokio::test]
async fn moto_presigned_download() {
    if let Some(b) = crate::moto().await {
        presigned_download(b.store.as_ref()).await;
    }
}

#[tokio::test]
async fn azurite_multipart() {
    if let Some(b) = crate::azurite().await {
        azure_multipart(b.store.as_ref()).await;
    }
}

#[tokio::test]
async fn s3s_multipart_like_the_client() {
    if let Some(b) = crate::s3s().await {
        let data: Vec<u8> = (0..5 * 1024 * 1024 + 10).map(|i| (i % 249) as u8).collect();
        let id = upload_in_parts(b.store.as_ref(), "mpu/h.bin", &data, 5 * 1024 * 1024).await;
        assert!(id.is_some());
        assert_eq!(
            read(b.store.as_ref(), "mpu/h.bin", GetOptions::default())
                .await
                .unwrap(),
            data
        );
    }
}

/// Multipart uploads where MLflow offers them (S3, Azure with an account key); presigned
/// downloads only on S3.
#[tokio::test]
async fn multipart_and_presign_where_mlflow_offers_them() {
    if let Some(b) = crate::local().await {
        assert!(b.store.multipart().is_none());
    }
    if let Some(b) = crate::azurite().await {
        assert!(b.store.multipart().is_some());
        assert!(!b.store.presigns_downloads());
    }
    for b in [crate::gcs().await, crate::sftp().await]
        .into_iter()
        .flatten()
    {
        assert!(b.store.multipart().is_none(), "{}", b.store.uri());
        let none = b
            .store
            .presign_download(&p("x"), std::time::Duration::from_secs(5))
            .await
            .unwrap();
        assert!(none.is_none());
    }
}
