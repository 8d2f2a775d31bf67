//! The property handlers' logic: verb, instance data and value buffer come from a user-mode
//! client. Whatever they are, an answer never claims more bytes than the buffer holds, a size
//! probe only answers an empty buffer, and the stored controls stay valid (volume inside the
//! range and on the step grid).
#![no_main]

use libfuzzer_sys::fuzz_target;
use wavert_sample::properties::{
    Controls, Jack, PropertyError, VOLUME_MAXIMUM, VOLUME_MINIMUM, VOLUME_STEP, Verb, jack, mute,
    volume,
};

fuzz_target!(|data: &[u8]| {
    let [selector, verb_flags, instance_len, value_len, rest @ ..] = data else {
        return;
    };
    let Some(verb) = Verb::from_flags(u32::from(*verb_flags) << (selector % 10)) else {
        return;
    };
    let split = usize::from(*instance_len).min(rest.len());
    let (instance, tail) = rest.split_at(split);
    let mut value = vec![0u8; usize::from(*value_len)];
    let copied = tail.len().min(value.len());
    value[..copied].copy_from_slice(&tail[..copied]);
    let controls = Controls::new();
    let answer = match selector % 3 {
        0 => volume(&controls, verb, instance, &mut value),
        1 => mute(&controls, verb, instance, &mut value),
        _ => jack(
            u32::from(selector / 3 % 4),
            verb,
            instance,
            |pin| (pin == 1).then_some(Jack::SPEAKER),
            &mut value,
        ),
    };
    match answer {
        Ok(written) => assert!(written <= value.len()),
        Err(PropertyError::Overflow { required }) => {
            assert!(value.is_empty());
            assert!(required > 0);
        }
        Err(_) => {}
    }
    for channel in 0..2 {
        let level = controls.volume(channel).unwrap();
        assert!((VOLUME_MINIMUM..=VOLUME_MAXIMUM).contains(&level));
        assert_eq!((level - VOLUME_MINIMUM) % VOLUME_STEP, 0);
    }
});
