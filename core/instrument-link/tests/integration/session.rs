//! The ordinary path: connect, information, calibration, readings; the instrument's refusals.

use ecsp_instrument::message::ErrorCode;
use ecsp_instrument_link::LinkState;
use ecsp_instrument_link::driver::InstrumentError;
use ecsp_instrument_link::sim::Faults;
use ecsp_protocol::colour_model::IlluminationCondition;

use crate::rig;

#[tokio::test]
async fn info_calibrate_and_measure_under_each_condition() {
    let (sim, instrument) = rig(23);
    let state = instrument.link_state();
    assert_eq!(*state.borrow(), LinkState::Disconnected);

    let info = instrument.info().await.unwrap();
    assert_eq!(*state.borrow(), LinkState::Connected { att_mtu: 23 });
    assert_eq!(info.serial, "SIM-000123");
    assert_eq!(info.grid.bands, 31);
    assert_eq!(info.seconds_since_calibration, None);

    let err = instrument
        .measure(IlluminationCondition::M1)
        .await
        .unwrap_err();
    assert_eq!(err, InstrumentError::Refused(ErrorCode::NotCalibrated));

    let cal = instrument.calibrate_white().await.unwrap();
    assert_eq!(cal.temperature_tenth_c, 230);

    let placed: Vec<f32> = (0..31).map(|i| 0.1 + i as f32 * 0.02).collect();
    sim.place_on(placed.clone());
    let mut last = None;
    for condition in [
        IlluminationCondition::M0,
        IlluminationCondition::M1,
        IlluminationCondition::M2,
    ] {
        let r = instrument.measure(condition).await.unwrap();
        assert_eq!(r.condition, condition);
        assert_eq!(r.serial, "SIM-000123");
        for (got, want) in r.values.iter().zip(&placed) {
            assert!((got - want).abs() < 0.001, "{got} vs {want}");
        }
        if let Some(prev) = last {
            assert_eq!(r.counter, prev + 1);
        }
        last = Some(r.counter);
    }
    let info = instrument.info().await.unwrap();
    assert_eq!(info.readings_since_calibration, 3);
    assert_eq!(
        instrument
            .measure(IlluminationCondition::M3)
            .await
            .unwrap_err(),
        InstrumentError::Refused(ErrorCode::UnsupportedCondition)
    );
}

#[tokio::test]
async fn refusals_reach_the_caller_as_the_instruments_codes() {
    let (sim, instrument) = rig(185);
    instrument.calibrate_white().await.unwrap();

    sim.expire_calibration();
    assert_eq!(
        instrument.measure(IlluminationCondition::M1).await,
        Err(InstrumentError::Refused(ErrorCode::NotCalibrated))
    );
    sim.set_faults(Faults {
        dirty_tile: true,
        ..Faults::default()
    });
    assert_eq!(
        instrument.calibrate_white().await,
        Err(InstrumentError::Refused(ErrorCode::TileDeltaETooHigh))
    );
    sim.set_faults(Faults::default());
    instrument.calibrate_white().await.unwrap();

    sim.set_faults(Faults {
        ambient_light_once: true,
        ..Faults::default()
    });
    assert_eq!(
        instrument.measure(IlluminationCondition::M1).await,
        Err(InstrumentError::Refused(ErrorCode::AmbientLight))
    );
    instrument.measure(IlluminationCondition::M1).await.unwrap();

    sim.set_battery(3);
    assert_eq!(
        instrument.measure(IlluminationCondition::M1).await,
        Err(InstrumentError::Refused(ErrorCode::LowBattery))
    );
    assert_eq!(sim.stats().readings_taken, 1);
}

#[tokio::test]
async fn an_instrument_that_is_not_there_is_reported_after_the_retries() {
    let (sim, instrument) = rig(185);
    sim.set_faults(Faults {
        refuse_connections: u32::MAX,
        ..Faults::default()
    });
    let err = instrument.info().await.unwrap_err();
    assert_eq!(
        err,
        InstrumentError::Link(ecsp_instrument_link::LinkError::NotFound)
    );
    assert_eq!(*instrument.link_state().borrow(), LinkState::Disconnected);
}

#[tokio::test]
async fn the_simulator_answers_cancel_on_the_wire() {
    use std::time::Duration;

    use ecsp_instrument::frame::{self, Reassembler};
    use ecsp_instrument::message::{Request, Response};
    use ecsp_instrument_link::InstrumentLink;
    use ecsp_instrument_link::sim::{SimConfig, SimulatedSpectrometer, Timing};

    let sim = SimulatedSpectrometer::new(SimConfig {
        timing: Timing {
            measure: Duration::from_secs(30),
            ..Timing::instant()
        },
        ..SimConfig::default()
    });
    let mut conn = sim.connect().await.unwrap();
    let mut seq = 0;
    let mut inbound = Reassembler::new();
    for request in [
        Request::CalibrateWhite { id: 1 },
        Request::Measure {
            id: 2,
            condition: IlluminationCondition::M2,
        },
        Request::Cancel { id: 2 },
    ] {
        for f in frame::encode(&request.encode(), conn.att_mtu, &mut seq).unwrap() {
            sim.write(f).await.unwrap();
        }
        if request.id() == 1 {
            let f = conn.notifications.recv().await.unwrap();
            let m = inbound.push(&f).unwrap().unwrap();
            assert!(matches!(
                Response::decode(&m).unwrap(),
                Response::Calibrated { id: 1, .. }
            ));
        }
    }
    let answer = tokio::time::timeout(Duration::from_secs(5), conn.notifications.recv())
        .await
        .unwrap()
        .unwrap();
    let m = inbound.push(&answer).unwrap().unwrap();
    assert_eq!(Response::decode(&m).unwrap(), Response::Cancelled { id: 2 });
    assert_eq!(sim.stats().readings_taken, 0);
}
