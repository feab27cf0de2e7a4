//! The real DICOM files in `../shared/fixtures/dicom`: one MR image in nine transfer syntaxes,
//! and a head CT series.

use kizuna_dicom::{Error, Format, Instance, Render, Window, render};
use std::path::PathBuf;

fn dicom() -> Option<PathBuf> {
    let dir = std::env::var("KIZUNA_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
        })
        .join("dicom");
    if dir.is_dir() {
        Some(dir)
    } else {
        assert!(
            std::env::var("CI").is_err(),
            "fixtures not found at {}",
            dir.display()
        );
        eprintln!("skipped: fixtures not found at {}", dir.display());
        None
    }
}

/// The grey levels of a PNG.
fn png_pixels(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

#[test]
fn every_transfer_syntax_renders_the_same_image() {
    let Some(dir) = dicom() else { return };
    let window = Render {
        window: Some(Window {
            center: 763.0,
            width: 1639.0,
        }),
        ..Render::default()
    };
    let mut reference = None;
    let mut syntaxes = Vec::new();
    for n in 1..=9 {
        let bytes = std::fs::read(dir.join(format!("transfer-syntaxes/{n}.dcm"))).unwrap();
        let instance = Instance::parse(&bytes).unwrap();
        let keys = instance.keys().unwrap();
        assert_eq!(
            (keys.rows, keys.columns, keys.frames),
            (Some(384), Some(384), 1)
        );
        syntaxes.push(keys.transfer_syntax.clone());
        let image = match render(&instance, &window) {
            Ok(png) => png_pixels(&png),
            // JPEG-LS (files 7 and 8) is decoded by CharLS, built with the feature jpeg-ls;
            // without it, the error says how to get it.
            Err(Error::Pixels(why))
                if !cfg!(feature = "jpeg-ls")
                    && keys.transfer_syntax == "1.2.840.10008.1.2.4.80" =>
            {
                assert!(why.contains("feature jpeg-ls"), "{why}");
                continue;
            }
            Err(e) => panic!("{n}.dcm ({}): {e}", keys.transfer_syntax),
        };
        match &reference {
            None => reference = Some(image),
            // Every codec here is lossless: the same pixels, the same picture.
            Some(r) => assert!(r == &image, "{n}.dcm ({}) differs", keys.transfer_syntax),
        }
    }
    assert_eq!(
        syntaxes,
        [
            "1.2.840.10008.1.2.1",
            "1.2.840.10008.1.2",
            "1.2.840.10008.1.2.2",
            "1.2.840.10008.1.2.5",
            "1.2.840.10008.1.2.4.70",
            "1.2.840.10008.1.2.4.70",
            "1.2.840.10008.1.2.4.80",
            "1.2.840.10008.1.2.4.80",
            "1.2.840.10008.1.2.4.90",
        ]
    );
    let (w, h, px) = reference.unwrap();
    assert_eq!((w, h), (384, 384));
    assert!(
        px.iter().any(|&p| p > 200) && px.iter().any(|&p| p < 20),
        "a real picture"
    );
}

#[test]
fn the_head_ct_renders_with_its_window_and_to_a_viewport() {
    let Some(dir) = dicom() else { return };
    let mut studies = std::collections::BTreeSet::new();
    let mut instances = std::collections::BTreeSet::new();
    for n in 1..=28 {
        let bytes = std::fs::read(dir.join(format!("head-ct/{n:02}.dcm"))).unwrap();
        let k = Instance::parse(&bytes).unwrap().keys().unwrap();
        assert_eq!(k.modality.as_deref(), Some("CT"));
        studies.insert((k.study_uid, k.series_uid));
        instances.insert(k.sop_instance_uid);
    }
    assert_eq!(
        (studies.len(), instances.len()),
        (1, 28),
        "one series of 28 slices"
    );

    let bytes = std::fs::read(dir.join("head-ct/14.dcm")).unwrap();
    let ct = Instance::parse(&bytes).unwrap();
    // The object's own window (brain: centre 35, width 100).
    let (w, h, px) = png_pixels(&render(&ct, &Render::default()).unwrap());
    assert_eq!((w, h, px.len()), (512, 512, 512 * 512));
    let black = px.iter().filter(|&&p| p == 0).count();
    let white = px.iter().filter(|&&p| p == 255).count();
    assert!(
        black > 10_000 && white > 1_000,
        "air black, bone white: {black}, {white}"
    );
    // A bone window shows less white.
    let bone = Render {
        window: Some(Window {
            center: 500.0,
            width: 2000.0,
        }),
        ..Render::default()
    };
    let (_, _, px_bone) = png_pixels(&render(&ct, &bone).unwrap());
    assert!(px_bone.iter().filter(|&&p| p == 255).count() < white);
    // A phone's thumbnail: JPEG in a 128×128 viewport.
    let thumb = Render {
        viewport: Some((128, 128)),
        format: Format::Jpeg { quality: 80 },
        ..Render::default()
    };
    let jpeg = render(&ct, &thumb).unwrap();
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8], "a JPEG");
    assert!(jpeg.len() < 16_000, "{}", jpeg.len());
    let (w, h, _) = png_pixels(
        &render(
            &ct,
            &Render {
                viewport: Some((100, 50)),
                ..Render::default()
            },
        )
        .unwrap(),
    );
    assert_eq!((w, h), (50, 50), "fits, keeping the aspect");
    // Frames count from 1.
    for frame in [0, 2] {
        assert!(matches!(
            render(
                &ct,
                &Render {
                    frame,
                    ..Render::default()
                }
            ),
            Err(Error::NoFrame { frames: 1, .. })
        ));
    }
    assert!(
        render(
            &ct,
            &Render {
                window: Some(Window {
                    center: 0.0,
                    width: 0.0
                }),
                ..Render::default()
            }
        )
        .is_err()
    );
}

#[test]
fn what_is_not_dicom_or_cut_short_is_an_error_never_a_panic() {
    let Some(dir) = dicom() else { return };
    let bytes = std::fs::read(dir.join("head-ct/01.dcm")).unwrap();
    for bad in [&b""[..], b"not dicom at all", &bytes[..132], &bytes[..1000]] {
        assert!(
            matches!(Instance::parse(bad), Err(Error::NotDicom(_))),
            "{}",
            bad.len()
        );
    }
    // Cut anywhere: parsed or refused, and if parsed, rendered or refused; never a panic.
    for cut in (0..bytes.len()).step_by(bytes.len() / 97) {
        if let Ok(i) = Instance::parse(&bytes[..cut]) {
            let _ = i.keys();
            let _ = render(&i, &Render::default());
        }
    }
}
