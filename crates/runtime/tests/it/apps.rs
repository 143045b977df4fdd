//! The example apps of `apps/`, run from their committed .wasm files.

use std::{fs, io::Read};

use alloy_primitives::Address;
use poco_runtime::{AppSource, BagOfTasks, Dataset, Error, Executor};

use crate::common::{app_module, app_path, executor, sha256, task_id, Task};

#[tokio::test]
async fn hello_prints_args_and_iexec_env() {
    let mut task = Task::new(task_id(0x11), app_module("hello"));
    task.input("first.txt", b"1")
        .input("second.bin", b"2")
        .input("dataset.csv", b"d");
    let req = &mut task.request;
    req.args = r#"world "two words" 'it''s'"#.into();
    req.deal_id = Some(task_id(0xde));
    req.bot = BagOfTasks {
        size: 3,
        first_index: 0,
        task_index: 1,
    };
    req.input_files = vec!["first.txt".into(), "second.bin".into()];
    req.dataset = Some(Dataset {
        address: Address::repeat_byte(0xaa),
        filename: "dataset.csv".into(),
    });

    let out = executor()
        .execute(task.request.clone())
        .await
        .expect("hello runs");

    let text = fs::read_to_string(task.output_file("result.txt")).unwrap();
    let expected = format!(
        "Hello, world two words its!\n\
         argc=3\n\
         arg[1]=world\n\
         arg[2]=two words\n\
         arg[3]=its\n\
         IEXEC_TASK_ID=0x{task}\n\
         IEXEC_DEAL_ID=0x{deal}\n\
         IEXEC_TASK_INDEX=1\n\
         IEXEC_IN=/iexec_in\n\
         IEXEC_OUT=/iexec_out\n\
         IEXEC_BOT_SIZE=3\n\
         IEXEC_BOT_FIRST_INDEX=0\n\
         IEXEC_BOT_TASK_INDEX=1\n\
         IEXEC_DATASET_ADDRESS=0x{dataset}\n\
         IEXEC_DATASET_FILENAME=dataset.csv\n\
         IEXEC_INPUT_FILES_FOLDER=/iexec_in\n\
         IEXEC_INPUT_FILES_NUMBER=2\n\
         IEXEC_INPUT_FILE_NAME_1=first.txt\n\
         IEXEC_INPUT_FILE_NAME_2=second.bin\n",
        task = "11".repeat(32),
        deal = "de".repeat(32),
        dataset = "aa".repeat(20),
    );
    assert_eq!(text, expected);

    // The digest of a file result is its sha256.
    assert_eq!(out.result.digest, sha256(text.as_bytes()));
    assert_eq!(
        out.result.deterministic_output,
        Some(task.output_file("result.txt"))
    );
    assert_eq!(
        out.result.computed.deterministic_output_path.as_deref(),
        Some("/iexec_out/result.txt")
    );
    assert_eq!(
        out.logs.stdout_lossy(),
        "hello: wrote /iexec_out/result.txt\n"
    );
    assert!(out.logs.stderr.is_empty());

    // The archive holds /iexec_out.
    let archive = fs::read(&out.result.archive).unwrap();
    assert_eq!(out.result.archive_sha256, sha256(&archive));
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(archive)).unwrap();
    let names: Vec<&str> = zip.file_names().collect();
    assert_eq!(names, ["computed.json", "result.txt"]);
    let mut inside = String::new();
    zip.by_name("result.txt")
        .unwrap()
        .read_to_string(&mut inside)
        .unwrap();
    assert_eq!(inside, text);
}

#[tokio::test]
async fn app_can_be_loaded_from_a_path() {
    let mut task = Task::new(task_id(0x12), app_module("hello"));
    task.request.app = AppSource::Path(app_path("hello"));
    let out = executor()
        .execute(task.request.clone())
        .await
        .expect("hello runs");
    assert!(fs::read_to_string(out.result.deterministic_output.unwrap())
        .unwrap()
        .starts_with("Hello!\n"));
}

#[tokio::test]
async fn wordcount_counts_the_dataset() {
    let mut task = Task::new(task_id(0x21), app_module("wordcount"));
    task.input(
        "book.txt",
        b"The cat and the dog.\nA cat, a DOG; a bird\n\nend",
    );
    task.request.dataset = Some(Dataset {
        address: Address::repeat_byte(1),
        filename: "book.txt".into(),
    });
    task.request.args = "3".into();
    let out = executor()
        .execute(task.request.clone())
        .await
        .expect("wordcount runs");
    let text = fs::read_to_string(task.output_file("result.txt")).unwrap();
    assert_eq!(
        text,
        "lines 3\nwords 12\nbytes 46\ndistinct 7\n3 a\n2 cat\n2 dog\n"
    );
    assert_eq!(out.result.digest, sha256(text.as_bytes()));
}

#[tokio::test]
async fn wordcount_without_dataset_fails_with_its_exit_code() {
    let task = Task::new(task_id(0x22), app_module("wordcount"));
    let err = executor().execute(task.request.clone()).await.unwrap_err();
    let Error::NonZeroExit { code, ref logs } = err else {
        panic!("unexpected {err:?}")
    };
    assert_eq!(code, 1);
    assert!(
        logs.stderr_lossy().contains("no dataset"),
        "{}",
        logs.stderr_lossy()
    );
    assert!(err.is_app_fault());
    let message = err.to_string();
    assert!(
        message.contains("exited with code 1") && message.contains("no dataset"),
        "{message}"
    );
}

/// Same generator as apps/pi/pi.c, to check the app's count independently.
fn expected_pi_inside(seed: u64, samples: u64) -> u64 {
    let mut sm = seed;
    let mut splitmix = || {
        sm = sm.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = sm;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut s = [splitmix(), splitmix(), splitmix(), splitmix()];
    let mut next = || {
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        (result >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    };
    (0..samples)
        .filter(|_| {
            let x = next();
            let y = next();
            x * x + y * y < 1.0
        })
        .count() as u64
}

#[tokio::test]
async fn pi_is_correct_and_identical_across_replicas() {
    let run = |seed: &str| {
        let mut task = Task::new(task_id(0x31), app_module("pi"));
        task.request.args = format!("{seed} 200000");
        async move {
            let out = executor()
                .execute(task.request.clone())
                .await
                .expect("pi runs");
            let bytes = fs::read(task.output_file("result.txt")).unwrap();
            let archive = fs::read(&out.result.archive).unwrap();
            (out.result.digest, bytes, archive)
        }
    };
    let (d1, r1, a1) = run("7").await;
    let (d2, r2, a2) = run("7").await;
    assert_eq!(r1, r2);
    assert_eq!(d1, d2);
    assert_eq!(a1, a2, "replicas produce identical archives");

    let inside = expected_pi_inside(7, 200_000);
    let text = String::from_utf8(r1).unwrap();
    assert!(
        text.starts_with(&format!("seed 7\nsamples 200000\ninside {inside}\npi ")),
        "{text}"
    );

    let (d3, _, _) = run("8").await;
    assert_ne!(d1, d3, "another seed, another result");
}

fn blur_gray(w: usize, h: usize, px: &[u8]) -> Vec<u8> {
    let at = |x: isize, y: isize| {
        let x = x.clamp(0, w as isize - 1) as usize;
        let y = y.clamp(0, h as isize - 1) as usize;
        u32::from(px[y * w + x])
    };
    let mut out = Vec::with_capacity(w * h);
    for y in 0..h as isize {
        for x in 0..w as isize {
            let sum: u32 = (-1..=1)
                .flat_map(|dy| (-1..=1).map(move |dx| (dx, dy)))
                .map(|(dx, dy)| at(x + dx, y + dy))
                .sum();
            out.push(((sum + 4) / 9) as u8);
        }
    }
    out
}

#[tokio::test]
async fn imagefilter_grayscale_then_blur() {
    let (w, h) = (7usize, 5usize);
    let rgb: Vec<u8> = (0..w * h * 3)
        .map(|i| ((i * 37 + 11) % 256) as u8)
        .collect();
    let mut ppm = format!("P6\n# test image\n{w} {h}\n255\n").into_bytes();
    ppm.extend_from_slice(&rgb);

    let mut task = Task::new(task_id(0x41), app_module("imagefilter"));
    task.input("photo.ppm", &ppm);
    task.request.input_files = vec!["photo.ppm".into()];
    task.request.args = "grayscale blur".into();
    let out = executor()
        .execute(task.request.clone())
        .await
        .expect("imagefilter runs");

    let gray: Vec<u8> = rgb
        .chunks(3)
        .map(|p| {
            ((299 * u32::from(p[0]) + 587 * u32::from(p[1]) + 114 * u32::from(p[2]) + 500) / 1000)
                as u8
        })
        .collect();
    let mut expected = format!("P5\n{w} {h}\n255\n").into_bytes();
    expected.extend(blur_gray(w, h, &gray));
    let written = fs::read(task.output_file("output.pgm")).unwrap();
    assert_eq!(written, expected);
    assert_eq!(out.result.digest, sha256(&expected));
}

#[tokio::test]
async fn imagefilter_rejects_unknown_filters() {
    let mut task = Task::new(task_id(0x42), app_module("imagefilter"));
    task.input("img.pgm", b"P5\n1 1\n255\n\x80");
    task.request.input_files = vec!["img.pgm".into()];
    task.request.args = "sharpen".into();
    let err = executor().execute(task.request.clone()).await.unwrap_err();
    assert!(matches!(err, Error::NonZeroExit { code: 1, .. }), "{err:?}");
    assert!(
        err.to_string().contains("unknown filter 'sharpen'"),
        "{err}"
    );
}

#[tokio::test]
async fn concurrent_tasks_do_not_interfere() {
    let tasks: Vec<Task> = (0..4u8)
        .map(|i| {
            let mut t = Task::new(task_id(0x50 + i), app_module("hello"));
            t.request.args = format!("task{i}");
            t
        })
        .collect();
    let outs = futures_join(tasks.iter().map(|t| executor().execute(t.request.clone()))).await;
    for (i, (task, out)) in tasks.iter().zip(outs).enumerate() {
        let out = out.expect("hello runs");
        let text = fs::read_to_string(task.output_file("result.txt")).unwrap();
        assert!(text.starts_with(&format!("Hello, task{i}!\n")), "{text}");
        assert!(text.contains(&format!(
            "IEXEC_TASK_ID=0x{}",
            format!("{:02x}", 0x50 + i).repeat(32)
        )));
        assert_eq!(out.result.digest, sha256(text.as_bytes()));
    }
}

/// Awaits all futures concurrently (spawned, so they really run in parallel).
async fn futures_join<F>(futs: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut outs = Vec::new();
    for h in handles {
        outs.push(h.await.expect("task"));
    }
    outs
}

/// The repository's root (scripts/ and apps/ live there).
fn repository() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs scripts/train-model.py (Python 3, standard library only) with `args`; its stdout.
fn train_model(args: &[&str]) -> String {
    let out = std::process::Command::new("python3")
        .arg(repository().join("scripts/train-model.py"))
        .args(args)
        .output()
        .expect("python3 runs scripts/train-model.py (install Python 3)");
    assert!(
        out.status.success(),
        "scripts/train-model.py {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// A classify task on `weights` (the dataset) with `args`.
fn classify_task(id: u8, weights: &[u8], args: &str) -> Task {
    let mut task = Task::new(task_id(id), app_module("classify"));
    task.input("model.txt", weights);
    task.request.dataset = Some(Dataset {
        address: Address::repeat_byte(0xda),
        filename: "model.txt".into(),
    });
    task.request.args = args.into();
    task
}

/// Lines `class C` then `score NAME SCORE PROBABILITY`: the class and the exact scores must
/// be equal, the probabilities (through exp, the only floating-point step) within 1e-4.
fn assert_same_prediction(app: &str, script: &str) {
    let (a, s): (Vec<_>, Vec<_>) = (app.lines().collect(), script.lines().collect());
    assert_eq!(a.len(), s.len(), "app:\n{app}\nscript:\n{script}");
    assert_eq!(a[0], s[0], "app:\n{app}\nscript:\n{script}");
    for (x, y) in a[1..].iter().zip(&s[1..]) {
        let (x, y): (Vec<_>, Vec<_>) = (x.split(' ').collect(), y.split(' ').collect());
        assert_eq!(x.len(), 4, "{app}");
        assert_eq!(x[..3], y[..3], "app:\n{app}\nscript:\n{script}");
        let (p, q): (f64, f64) = (x[3].parse().unwrap(), y[3].parse().unwrap());
        assert!((p - q).abs() <= 1e-4, "app:\n{app}\nscript:\n{script}");
    }
}

#[tokio::test]
async fn classify_predicts_what_the_training_script_predicts() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model.txt");
    let report = train_model(&["--out", model.to_str().unwrap()]);
    assert!(report.contains("held-out"), "{report}");
    let weights = fs::read(&model).unwrap();

    let cases = [
        "82.0 6.5 2.5 14.0",
        "61 2.2 3.3 9.5",
        "71.5 4.2 2.9 11.0",
        "-1.5 0 +0.001 1000000",
        "0 0 0 0",
    ];
    let mut classes = std::collections::BTreeSet::new();
    for (i, features) in cases.iter().enumerate() {
        let task = classify_task(0x60 + i as u8, &weights, features);
        let out = executor()
            .execute(task.request.clone())
            .await
            .expect("classify runs");
        let text = fs::read_to_string(task.output_file("result.txt")).unwrap();
        let expected = train_model(&["--predict", features, "--weights", model.to_str().unwrap()]);
        assert_same_prediction(&text, &expected);
        assert_eq!(out.result.digest, sha256(text.as_bytes()));
        classes.insert(text.lines().next().unwrap().to_owned());
    }
    // the cases reach every class of the model, so the comparison covers each row
    assert_eq!(classes.len(), 3, "{classes:?}");

    // deterministic: a second run gives the same bytes
    let run = |id| {
        let task = classify_task(id, &weights, cases[2]);
        async move {
            executor()
                .execute(task.request.clone())
                .await
                .expect("classify runs");
            fs::read(task.output_file("result.txt")).unwrap()
        }
    };
    assert_eq!(run(0x70).await, run(0x71).await);
}

#[tokio::test]
async fn classify_scores_a_hand_written_model_exactly() {
    // scale 10: real weights are tenths; features 1.5 and -2 → scores in 1/10000
    let weights = b"# two classes\npoco-classify 1\nfeatures 2\nclasses 2\nscale 10\n\
        class cold 5 -10 0\nclass hot -5 10 3\n";
    let task = classify_task(0x72, weights, "1.5 -2");
    executor()
        .execute(task.request.clone())
        .await
        .expect("classify runs");
    let text = fs::read_to_string(task.output_file("result.txt")).unwrap();
    // cold: 0.5 - 1.0 * 1.5 = -1.0; hot: -0.5 + 1.0 * 1.5 + 0.3 * -2 = 0.4
    let (cold, hot) = (1.0f64.exp().recip(), 0.4f64.exp());
    let p_hot = hot / (hot + cold);
    assert_eq!(
        text,
        format!(
            "class hot\nscore cold -1.0000 {:.4}\nscore hot 0.4000 {:.4}\n",
            1.0 - p_hot,
            p_hot
        )
    );
}

#[tokio::test]
async fn classify_refuses_bad_input() {
    let model = b"poco-classify 1\nfeatures 2\nclasses 2\nscale 10\nclass a 1 2 3\nclass b 4 5 6\n";
    let cases: [(&[u8], &str, &str); 8] = [
        (model, "1", "the model takes 2 features as arguments, got 1"),
        (model, "1 1e3", "feature 2 '1e3' is not a decimal number"),
        (model, "1.2345 0", "feature 1 '1.2345' is not a decimal number"),
        (model, "1 2000000", "feature 2 '2000000' is out of range"),
        // the encrypted file a standard worker would hand the app
        (b"\x8f\x00\x13\xe2 ciphertext", "1 2", "the dataset is binary"),
        (b"weights\n", "1 2", "is not a poco-classify 1 weights file"),
        (
            b"poco-classify 1\nfeatures 2\nclasses 2\nscale 10\nclass a 1 2 3\n",
            "1 2",
            "the weights file is incomplete",
        ),
        (
            b"poco-classify 1\nfeatures 2\nclasses 2\nscale 10\nclass a 1 2 99999999\nclass b 1 2 3\n",
            "1 2",
            "'99999999' is not an integer within",
        ),
    ];
    for (i, (weights, args, message)) in cases.into_iter().enumerate() {
        let task = classify_task(0x80 + i as u8, weights, args);
        let err = executor().execute(task.request.clone()).await.unwrap_err();
        assert!(matches!(err, Error::NonZeroExit { code: 1, .. }), "{err:?}");
        assert!(err.to_string().contains(message), "{args}: {err}");
    }
    // no dataset at all
    let mut task = Task::new(task_id(0x8f), app_module("classify"));
    task.request.args = "1 2".into();
    let err = executor().execute(task.request.clone()).await.unwrap_err();
    assert!(err.to_string().contains("no dataset"), "{err}");
}
