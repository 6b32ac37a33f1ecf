//! S3 multipart uploads with presigned part URLs, as the stock client drives them: create,
//! `PUT` each part to its URL without any credentials, complete (or abort).

use rsflow_artifacts::{ArtifactStore, CompletedPart, GetOptions};

use crate::cases::{p, read};

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
async fn only_s3_offers_multipart() {
    if let Some(b) = crate::local().await {
        assert!(b.store.multipart().is_none());
    }
    for b in [
        crate::azurite().await,
        crate::gcs().await,
        crate::sftp().await,
    ]
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
