//! Photos: only with `photos` consent, their location removed before they are stored unless
//! the user allowed `gps`, limits with clear errors, delivered with the record.

use ecsp_client::sync::FlushOptions;
use ecsp_measure::MeasureErrorCode;
use ecsp_protocol::consent::Purpose;
use ecsp_protocol::measurement::{MeasurementRecord, PhotoMediaType};

use crate::common::{TestServer, measured_session};

/// A real camera photo with GPS in EXIF (ecsp-photo's fixture; see its SOURCES.md).
fn photo_with_gps() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../photo/tests/fixtures/DSCN0010.jpg"
    ))
    .unwrap()
}

#[tokio::test]
async fn photos_need_consent_and_lose_their_location_without_gps_consent() {
    let server = TestServer::start().await;
    let original = photo_with_gps();
    let stripped = ecsp_photo::strip_location(&original).unwrap().bytes;
    assert_ne!(stripped, original);
    for gps in [false, true] {
        let (client, device) = server.technician(&format!("photos-gps-{gps}")).await;
        let dir = tempfile::tempdir().unwrap();
        let (mut session, _sim) = measured_session(dir.path(), device).await;
        if gps {
            // The same person granted photos in the first round's app: the server's ledger
            // says so, and this app follows it from sign-in. They withdraw it here.
            assert!(client.is_granted(Purpose::Photos).await.unwrap());
            client.withdraw(Purpose::Photos).await.unwrap();
        }

        let err = session
            .attach_photo(&client, original.clone(), None)
            .await
            .unwrap_err();
        assert_eq!(err.code(), MeasureErrorCode::NotAllowed, "{err}");

        client.grant(Purpose::Photos).await.unwrap();
        if gps {
            client.grant(Purpose::Gps).await.unwrap();
        } else {
            client.refuse(Purpose::Gps).await.unwrap();
        }
        let attached = session
            .attach_photo(&client, original.clone(), Some("the press sheet".into()))
            .await
            .unwrap();
        assert_eq!((attached.index, attached.media_type), (0, "image/jpeg"));
        assert_eq!(attached.location_removed, !gps);

        // What is stored locally already has no location without `gps`.
        let file = rusqlite::Connection::open(dir.path().join("sessions.sqlite3")).unwrap();
        let kept: Vec<u8> = file
            .query_row("SELECT data FROM photos", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kept, if gps { &original } else { &stripped }.clone());

        let captured = session.upload(&client, None).await.unwrap();
        client.flush(FlushOptions::default()).await.unwrap();
        let view = client.record(captured.record_id).await.unwrap();
        let record: MeasurementRecord = serde_json::from_value(view.record).unwrap();
        assert_eq!(record.photos.len(), 1);
        let photo = &record.photos[0];
        assert_eq!(photo.media_type, PhotoMediaType::Jpeg);
        assert_eq!(photo.caption.as_deref(), Some("the press sheet"));
        let delivered = photo.decode().unwrap();
        assert_eq!(delivered, if gps { &original } else { &stripped }.clone());
    }
}

#[tokio::test]
async fn photo_limits_and_formats_get_clear_errors() {
    let server = TestServer::start().await;
    let (client, device) = server.technician("photo-limits").await;
    client.grant(Purpose::Photos).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (mut session, _sim) = measured_session(dir.path(), device).await;
    let heic = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../photo/tests/fixtures/QuickTime.heic"
    ))
    .unwrap();
    let err = session.attach_photo(&client, heic, None).await.unwrap_err();
    assert_eq!(err.code(), MeasureErrorCode::Photo);
    assert!(err.to_string().contains("HEIC"), "{err}");
    let too_big = vec![0xFF; ecsp_photo::MAX_PHOTO_BYTES + 1];
    let err = session
        .attach_photo(&client, too_big, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("at most"), "{err}");
    for i in 0..ecsp_photo::MAX_PHOTOS {
        let attached = session
            .attach_photo(&client, photo_with_gps(), None)
            .await
            .unwrap();
        assert_eq!(attached.index, i);
    }
    let err = session
        .attach_photo(&client, photo_with_gps(), None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), MeasureErrorCode::Photo);
    assert!(err.to_string().contains("at most 4 photos"), "{err}");
}
