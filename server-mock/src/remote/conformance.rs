//! MQTT 3.1.1's MUSTs on the packets this broker takes, checked on the raw frame before it is
//! decoded.
//!
//! Written here because the codec (rumqttc's `mqttbytes`, a client's codec) is lenient where a
//! server must not be: it ignores the fixed header's flags, CONNECT's reserved bit, a username
//! flag of 0 with a password flag of 1, packet id 0 in SUBSCRIBE and UNSUBSCRIBE, an UNSUBSCRIBE
//! without topics, bytes after a CONNECT's last field and a body on PINGREQ or DISCONNECT. The
//! spec says a server closes the connection on any of these (MQTT-4.8.0-1: "Unless stated
//! otherwise, if either the Server or Client encounters a protocol violation, it MUST close the
//! Network Connection"), so [`check`] names the first rule a frame breaks and the broker closes.
//!
//! Packets the broker does not take at all (CONNACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK,
//! PINGRESP, reserved types) pass here and are refused by the broker itself.

/// A broken rule: its number in the MQTT 3.1.1 standard and what was wrong.
pub type Violation = &'static str;

const CONNECT: u8 = 1;
const PUBLISH: u8 = 3;
const PUBACK: u8 = 4;
const SUBSCRIBE: u8 = 8;
const UNSUBSCRIBE: u8 = 10;
const PINGREQ: u8 = 12;
const DISCONNECT: u8 = 14;

/// Checks one complete frame (fixed header included, as framed by `mqttbytes::check`).
pub fn check(frame: &[u8]) -> Result<(), Violation> {
    let Some((&byte1, rest)) = frame.split_first() else {
        return Err("MQTT-2.2: no fixed header");
    };
    // Skip the remaining length (1 to 4 bytes, already decoded by the framer).
    let len_bytes = rest
        .iter()
        .take(4)
        .position(|b| b & 0x80 == 0)
        .ok_or("MQTT-2.2.3: malformed remaining length")?
        + 1;
    let body = &rest[len_bytes..];
    let (kind, flags) = (byte1 >> 4, byte1 & 0x0F);
    match kind {
        CONNECT => {
            fixed_flags(flags, 0, "MQTT-2.2.2-2: CONNECT header flags must be 0")?;
            connect(body)
        }
        PUBLISH => publish(flags, body),
        PUBACK => {
            fixed_flags(flags, 0, "MQTT-2.2.2-2: PUBACK header flags must be 0")?;
            if body.len() != 2 {
                return Err("MQTT-3.4.1: PUBACK's remaining length must be 2");
            }
            packet_id(&mut Reader(body)).map(drop)
        }
        SUBSCRIBE => {
            fixed_flags(
                flags,
                2,
                "MQTT-3.8.1-1: SUBSCRIBE header flags must be 0010",
            )?;
            subscribe(body)
        }
        UNSUBSCRIBE => {
            fixed_flags(
                flags,
                2,
                "MQTT-3.10.1-1: UNSUBSCRIBE header flags must be 0010",
            )?;
            unsubscribe(body)
        }
        PINGREQ => {
            fixed_flags(flags, 0, "MQTT-2.2.2-2: PINGREQ header flags must be 0")?;
            empty(body, "MQTT-3.12: PINGREQ has no variable header or payload")
        }
        DISCONNECT => {
            fixed_flags(flags, 0, "MQTT-3.14.1-1: DISCONNECT header flags must be 0")?;
            empty(
                body,
                "MQTT-3.14: DISCONNECT has no variable header or payload",
            )
        }
        _ => Ok(()),
    }
}

fn fixed_flags(flags: u8, want: u8, rule: Violation) -> Result<(), Violation> {
    if flags == want { Ok(()) } else { Err(rule) }
}

fn empty(body: &[u8], rule: Violation) -> Result<(), Violation> {
    if body.is_empty() { Ok(()) } else { Err(rule) }
}

/// A cursor over a packet's bytes.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], Violation> {
        if self.0.len() < n {
            return Err("MQTT-2.2.3: the packet ends before its fields do");
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, Violation> {
        Ok(self.bytes(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, Violation> {
        let b = self.bytes(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// Two-byte length, then that many bytes.
    fn binary(&mut self) -> Result<&'a [u8], Violation> {
        let n = self.u16()?;
        self.bytes(usize::from(n))
    }

    /// A UTF-8 encoded string (MQTT-1.5.3-1, well-formed; MQTT-1.5.3-2, no U+0000).
    fn string(&mut self) -> Result<&'a str, Violation> {
        let s = std::str::from_utf8(self.binary()?)
            .map_err(|_| "MQTT-1.5.3-1: a string that is not well-formed UTF-8")?;
        if s.contains('\0') {
            return Err("MQTT-1.5.3-2: a string containing U+0000");
        }
        Ok(s)
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// MQTT-2.3.1-1: SUBSCRIBE, UNSUBSCRIBE and PUBLISH (QoS > 0) carry a non-zero packet id.
fn packet_id(r: &mut Reader<'_>) -> Result<u16, Violation> {
    match r.u16()? {
        0 => Err("MQTT-2.3.1-1: packet identifier 0"),
        id => Ok(id),
    }
}

fn connect(body: &[u8]) -> Result<(), Violation> {
    let mut r = Reader(body);
    if r.string()? != "MQTT" {
        return Err("MQTT-3.1.2-1: protocol name is not MQTT");
    }
    // The level was checked before (anything but 4 is answered CONNACK 1).
    r.u8()?;
    let flags = r.u8()?;
    if flags & 0x01 != 0 {
        return Err("MQTT-3.1.2-3: CONNECT's reserved flag is set");
    }
    let will = flags & 0x04 != 0;
    let will_qos = (flags >> 3) & 0x03;
    let will_retain = flags & 0x20 != 0;
    if !will && (will_qos != 0 || will_retain) {
        return Err("MQTT-3.1.2-11/13/15: will QoS or retain without the will flag");
    }
    if will_qos == 3 {
        return Err("MQTT-3.1.2-14: will QoS 3");
    }
    let (user, password) = (flags & 0x80 != 0, flags & 0x40 != 0);
    if password && !user {
        return Err("MQTT-3.1.2-22: password flag without the user name flag");
    }
    r.u16()?; // keep-alive
    // MQTT-3.1.3-1: the payload's fields, in this order, present exactly as the flags say.
    r.string()?; // client id
    if will {
        topic_name(r.string()?)?;
        r.binary()?;
    }
    if user {
        r.string()?;
    }
    if password {
        r.binary()?;
    }
    if !r.is_empty() {
        return Err("MQTT-3.1.3-1: bytes after CONNECT's last field");
    }
    Ok(())
}

/// MQTT-4.7.3-1: at least one character; MQTT-3.3.2-2: no wildcards in a topic name.
fn topic_name(topic: &str) -> Result<(), Violation> {
    if topic.is_empty() {
        return Err("MQTT-4.7.3-1: an empty topic name");
    }
    if topic.contains(['+', '#']) {
        return Err("MQTT-3.3.2-2: a wildcard in a topic name");
    }
    Ok(())
}

/// MQTT-4.7.3-1: at least one character; MQTT-4.7.1-2/3: `#` alone and last, `+` alone in its
/// level.
fn topic_filter(filter: &str) -> Result<(), Violation> {
    if filter.is_empty() {
        return Err("MQTT-4.7.3-1: an empty topic filter");
    }
    let levels: Vec<&str> = filter.split('/').collect();
    for (i, level) in levels.iter().enumerate() {
        if level.contains('#') && (*level != "#" || i + 1 != levels.len()) {
            return Err("MQTT-4.7.1-2: '#' not alone in the last level");
        }
        if level.contains('+') && *level != "+" {
            return Err("MQTT-4.7.1-3: '+' not alone in its level");
        }
    }
    Ok(())
}

fn publish(flags: u8, body: &[u8]) -> Result<(), Violation> {
    let qos = (flags >> 1) & 0x03;
    if qos == 3 {
        return Err("MQTT-3.3.1-4: PUBLISH with QoS 3");
    }
    if qos == 0 && flags & 0x08 != 0 {
        return Err("MQTT-3.3.1-2: DUP set on a QoS 0 PUBLISH");
    }
    let mut r = Reader(body);
    topic_name(r.string()?)?;
    if qos > 0 {
        packet_id(&mut r)?;
    }
    Ok(())
}

fn subscribe(body: &[u8]) -> Result<(), Violation> {
    let mut r = Reader(body);
    packet_id(&mut r)?;
    if r.is_empty() {
        return Err("MQTT-3.8.3-3: SUBSCRIBE without a topic filter");
    }
    while !r.is_empty() {
        topic_filter(r.string()?)?;
        let options = r.u8()?;
        if options & 0xFC != 0 || options & 0x03 == 3 {
            return Err("MQTT-3.8.3-4: reserved bits or QoS 3 in a requested QoS");
        }
    }
    Ok(())
}

fn unsubscribe(body: &[u8]) -> Result<(), Violation> {
    let mut r = Reader(body);
    packet_id(&mut r)?;
    if r.is_empty() {
        return Err("MQTT-3.10.3-2: UNSUBSCRIBE without a topic filter");
    }
    while !r.is_empty() {
        topic_filter(r.string()?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use rumqttc::mqttbytes::QoS;
    use rumqttc::mqttbytes::v4::{Connect, Packet, Publish, Subscribe, Unsubscribe};

    fn encoded(p: Packet) -> Vec<u8> {
        let mut buf = BytesMut::new();
        p.write(&mut buf, 1 << 20).unwrap();
        buf.to_vec()
    }

    #[test]
    fn what_a_conforming_client_sends_passes() {
        let mut connect = Connect::new("client");
        connect.set_login("user", "secret");
        let mut publish = Publish::new("a/b", QoS::AtLeastOnce, "x");
        publish.pkid = 7;
        let mut subscribe = Subscribe::new("a/+/#", QoS::AtLeastOnce);
        subscribe.pkid = 1;
        let mut unsubscribe = Unsubscribe::new("a/b");
        unsubscribe.pkid = 2;
        for p in [
            Packet::Connect(connect),
            Packet::Publish(publish),
            Packet::Publish(Publish::new("a/b", QoS::AtMostOnce, "")),
            Packet::Subscribe(subscribe),
            Packet::Unsubscribe(unsubscribe),
            Packet::PingReq,
            Packet::Disconnect,
        ] {
            assert_eq!(check(&encoded(p.clone())), Ok(()), "{p:?}");
        }
    }

    #[test]
    fn wildcards_are_checked_where_they_stand() {
        assert!(topic_filter("a/#").is_ok());
        assert!(topic_filter("#").is_ok());
        assert!(topic_filter("+/a/+").is_ok());
        assert!(topic_filter("a/#/b").is_err());
        assert!(topic_filter("a#").is_err());
        assert!(topic_filter("a/b+").is_err());
        assert!(topic_name("a/+").is_err());
    }
}
