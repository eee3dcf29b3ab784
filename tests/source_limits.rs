//! The size limits the code keeps, so that each file stays readable in one sitting:
//! no source file over 600 lines. (Functions over 150 lines are clippy's
//! `too_many_lines`, set in clippy.toml.) Checked with the tests so CI enforces it.

use std::path::{Path, PathBuf};

const MAX_FILE_LINES: usize = 600;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {dir:?}: {e}"));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_source_file_is_over_600_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["src", "tests", "bench"] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 50, "found only {} files", files.len());
    let mut over: Vec<String> = files
        .iter()
        .filter_map(|path| {
            let text = std::fs::read_to_string(path).expect("source file");
            let lines = text.lines().count();
            (lines > MAX_FILE_LINES).then(|| {
                let name = path.strip_prefix(root).unwrap_or(path).display();
                format!("{name}: {lines} lines")
            })
        })
        .collect();
    over.sort();
    assert!(
        over.is_empty(),
        "split these by concern (at most {MAX_FILE_LINES} lines each):\n{}",
        over.join("\n")
    );
}
