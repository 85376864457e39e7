//! A writer of the `newc` cpio format, the one the Linux kernel unpacks
//! as an initramfs (Documentation/driver-api/early-userspace/buffer-format.rst).
//! The kernel accepts several archives one after the other, so a VM's
//! files are the lab's base archive followed by one with the test's extras.
//!
//! ```text
//! header: "070701", then 13 fields of 8 hex digits: ino mode uid gid nlink
//!         mtime filesize devmajor devminor rdevmajor rdevminor namesize check
//! name (namesize bytes, NUL included), padded to a multiple of 4
//! data (filesize bytes), padded to a multiple of 4
//! last entry: the name "TRAILER!!!"
//! ```

use std::io::{self, Write};

const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;

/// Builds one archive in memory.
#[derive(Debug, Default)]
pub struct Archive {
    out: Vec<u8>,
    ino: u32,
}

impl Archive {
    /// An empty archive.
    pub fn new() -> Self {
        Archive::default()
    }

    /// A directory `path` (relative, no leading `/`).
    pub fn dir(&mut self, path: &str, mode: u32) {
        self.entry(path, S_IFDIR | (mode & 0o7777), 2, &[]);
    }

    /// A regular file.
    pub fn file(&mut self, path: &str, mode: u32, data: &[u8]) {
        self.entry(path, S_IFREG | (mode & 0o7777), 1, data);
    }

    /// A symbolic link `path` -> `target`.
    pub fn symlink(&mut self, path: &str, target: &str) {
        self.entry(path, S_IFLNK | 0o777, 1, target.as_bytes());
    }

    /// Every parent directory of `path`, then nothing else (the kernel
    /// needs a file's directory to exist before the file).
    pub fn parents(&mut self, path: &str, made: &mut Vec<String>) {
        let mut at = String::new();
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        for part in &parts[..parts.len().saturating_sub(1)] {
            if !at.is_empty() {
                at.push('/');
            }
            at.push_str(part);
            if !made.contains(&at) {
                self.dir(&at, 0o755);
                made.push(at.clone());
            }
        }
    }

    fn entry(&mut self, name: &str, mode: u32, nlink: u32, data: &[u8]) {
        self.ino += 1;
        let namesize = name.len() + 1;
        let fields = [
            self.ino,
            mode,
            0,
            0,
            nlink,
            0,
            data.len() as u32,
            0,
            0,
            0,
            0,
            namesize as u32,
            0,
        ];
        self.out.extend_from_slice(b"070701");
        for f in fields {
            self.out.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(0);
        self.pad();
        self.out.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        while self.out.len() % 4 != 0 {
            self.out.push(0);
        }
    }

    /// Ends the archive and writes it.
    pub fn finish(mut self, w: &mut impl Write) -> io::Result<()> {
        self.entry("TRAILER!!!", 0, 1, &[]);
        w.write_all(&self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_aligned_and_headed() {
        let mut a = Archive::new();
        let mut made = Vec::new();
        a.parents("usr/bin/x", &mut made);
        a.file("usr/bin/x", 0o755, b"hello");
        a.symlink("bin", "usr/bin");
        let mut out = Vec::new();
        a.finish(&mut out).unwrap();
        assert_eq!(made, ["usr", "usr/bin"]);
        assert_eq!(out.len() % 4, 0);
        assert!(out.starts_with(b"070701"));
        // The second header (usr/bin) starts at a 4-byte boundary.
        let first = 110 + "usr".len() + 1;
        let second = first.div_ceil(4) * 4;
        assert_eq!(&out[second..second + 6], b"070701");
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains("usr/bin/x\0"));
        assert!(text.contains("hello"));
        assert!(text.contains("TRAILER!!!"));
        // Mode field of the file: 0100755.
        assert!(text.contains("000081ed"));
    }

    /// An implementation we did not write reads what we wrote: busybox's
    /// cpio lists every entry, with its type and size.
    #[test]
    fn busybox_cpio_reads_it() {
        let mut a = Archive::new();
        let mut made = Vec::new();
        a.parents("etc/lab/x.conf", &mut made);
        a.file("etc/lab/x.conf", 0o644, b"key=value\n");
        a.file("odd", 0o600, b"12345");
        a.symlink("link", "etc/lab/x.conf");
        let mut out = Vec::new();
        a.finish(&mut out).unwrap();
        let busybox = ["/bin/busybox", "/usr/bin/busybox"]
            .into_iter()
            .find(|p| std::path::Path::new(p).is_file())
            .expect("busybox (Debian package busybox-static, scripts/deps.sh installs it)");
        let mut child = std::process::Command::new(busybox)
            .args(["cpio", "-tv"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&out).unwrap();
        let listed = child.wait_with_output().unwrap();
        assert!(listed.status.success(), "{listed:?}");
        let text = String::from_utf8_lossy(&listed.stdout);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert!(
            lines[0].starts_with('d') && lines[0].ends_with(" etc"),
            "{text}"
        );
        assert!(
            lines[1].starts_with('d') && lines[1].ends_with(" etc/lab"),
            "{text}"
        );
        assert!(
            lines[2].starts_with("-rw-r--r--") && lines[2].contains(" 10 "),
            "{text}"
        );
        assert!(lines[2].ends_with(" etc/lab/x.conf"), "{text}");
        assert!(
            lines[3].starts_with("-rw-------") && lines[3].ends_with(" odd"),
            "{text}"
        );
        assert!(
            lines[4].starts_with('l') && lines[4].ends_with("link -> etc/lab/x.conf"),
            "{text}"
        );
    }
}
