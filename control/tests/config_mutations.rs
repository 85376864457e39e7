//! Property-style test: random mutations of the valid example files never
//! panic the loader, and whatever it answers is well-formed (errors name
//! the file and, once the file parsed, a line; a success is summarised).
//!
//! The mutations come from a seeded xorshift generator, so a failure is
//! reproducible: the message gives the seed and the mutated text.

use control::config::{self, ErrorKind, MAX_ERRORS};

const EXAMPLES: [&str; 2] = [
    include_str!("../../examples/edge1.toml"),
    include_str!("../../examples/edge2.toml"),
];

/// Tokens worth splicing in: TOML syntax, section headers, keys, values of
/// the right and wrong kinds and extremes.
const TOKENS: &[&str] = &[
    "\"",
    "'",
    "[",
    "]",
    "[[",
    "]]",
    "{",
    "}",
    "=",
    ",",
    ".",
    "#",
    "\n",
    " ",
    "\\",
    "[[route]]\n",
    "[[sid]]\n",
    "[[port]]\n",
    "[[vrf]]\n",
    "[[policy]]\n",
    "[router]\n",
    "[route]\n",
    "[[router]]\n",
    "name = ",
    "vrf = ",
    "port = ",
    "nexthop = ",
    "policy = ",
    "prefix = ",
    "segments = ",
    "sid = ",
    "behavior = ",
    "id = ",
    "local = true\n",
    "blackhole = true\n",
    "\"underlay\"",
    "\"on-link\"",
    "\"end.dt4\"",
    "\"end.x\"",
    "\"end.dx4\"",
    "\"encap.red\"",
    "\"lan\"",
    "\"wan\"",
    "\"blue\"",
    "\"red\"",
    "\"wan0\"",
    "\"lan-blue\"",
    "\"fc00::/0\"",
    "\"::/0\"",
    "\"0.0.0.0/0\"",
    "\"ff02::1\"",
    "\"fe80::1\"",
    "\"10.1.0.0/33\"",
    "\"::\"",
    "\"1.2.3.4\"",
    "[]",
    "[\"fc00::1\"]",
    "0",
    "-1",
    "4095",
    "4096",
    "65536",
    "9223372036854775807",
    "-9223372036854775808",
    "1.5",
    "true",
    "nan",
    "1979-05-27T07:32:00Z",
    "é",
    "\u{0}",
    "\u{feff}",
    "ß::1",
    "/",
    "/128",
    "/0",
    ":",
    "::",
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One random edit of `text`, keeping it valid UTF-8.
fn mutate(rng: &mut Rng, text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let lines: Vec<&str> = text.lines().collect();
    let at = rng.below(chars.len() + 1);
    let s = |c: &[char]| c.iter().collect::<String>();
    match rng.below(8) {
        // Delete a few characters.
        0 => {
            let end = (at + 1 + rng.below(8)).min(chars.len());
            format!("{}{}", s(&chars[..at.min(end)]), s(&chars[end..]))
        }
        // Insert a token.
        1 | 2 => {
            let token = TOKENS[rng.below(TOKENS.len())];
            format!("{}{token}{}", s(&chars[..at]), s(&chars[at..]))
        }
        // Replace one character by a random printable one.
        3 if !chars.is_empty() => {
            let mut c = chars.clone();
            let i = at.min(c.len() - 1);
            c[i] = char::from(b' ' + rng.below(95) as u8);
            s(&c)
        }
        // Delete a line.
        4 if !lines.is_empty() => {
            let i = rng.below(lines.len());
            let mut l = lines.clone();
            l.remove(i);
            l.join("\n")
        }
        // Duplicate a line somewhere else.
        5 if !lines.is_empty() => {
            let (i, j) = (rng.below(lines.len()), rng.below(lines.len()));
            let mut l = lines.clone();
            l.insert(j, lines[i]);
            l.join("\n")
        }
        // Swap two lines.
        6 if lines.len() > 1 => {
            let (i, j) = (rng.below(lines.len()), rng.below(lines.len()));
            let mut l = lines.clone();
            l.swap(i, j);
            l.join("\n")
        }
        // Change the value of a `key = value` line to a token.
        _ => {
            let mut l: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            let n = l.len().max(1);
            if let Some(i) = (0..l.len())
                .map(|k| (k + at) % n)
                .find(|&k| l[k].contains(" = "))
            {
                let key = l[i].split(" = ").next().unwrap_or("").to_string();
                l[i] = format!("{key} = {}", TOKENS[rng.below(TOKENS.len())]);
            }
            l.join("\n")
        }
    }
}

/// Loads `text` and checks that the answer is well-formed.
fn check(text: &str, seed: u64) -> bool {
    let result = std::panic::catch_unwind(|| config::load_str(text, "m.toml"));
    let Ok(result) = result else {
        panic!("the loader panicked (seed {seed}) on:\n{text}");
    };
    match result {
        Ok(c) => {
            let _ = c.summary().to_string();
            assert!(!c.ports.is_empty());
            true
        }
        Err(errors) => {
            assert!(
                errors.count() >= 1,
                "seed {seed}: rejected without an error"
            );
            assert!(errors.errors().len() <= MAX_ERRORS);
            let shown = errors.to_string();
            for e in errors.errors() {
                assert!(e.to_string().starts_with("m.toml"), "seed {seed}: {e}");
                let whole_file = matches!(
                    e.kind,
                    ErrorKind::MissingSection { .. } | ErrorKind::NoPorts | ErrorKind::Syntax(_)
                );
                assert!(
                    whole_file || e.line.is_some(),
                    "seed {seed}: error without a line: {e}\n{text}"
                );
            }
            assert!(!shown.is_empty());
            false
        }
    }
}

#[test]
fn random_mutations_never_panic() {
    let mut accepted = 0;
    let mut rejected = 0;
    for (n, example) in EXAMPLES.iter().enumerate() {
        for round in 0..1500u64 {
            let seed = 0x9e37_79b9_7f4a_7c15 ^ (round << 8) ^ n as u64;
            let mut rng = Rng(seed);
            let mut text = example.to_string();
            for _ in 0..1 + rng.below(4) {
                text = mutate(&mut rng, &text);
            }
            if check(&text, seed) {
                accepted += 1;
            } else {
                rejected += 1;
            }
        }
    }
    // Both outcomes are exercised (comments and whitespace absorb many
    // edits; most others are caught).
    assert!(
        accepted > 50 && rejected > 500,
        "accepted {accepted}, rejected {rejected}"
    );
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for _ in 0..500 {
        let len = rng.below(200);
        let text: String = (0..len).map(|_| TOKENS[rng.below(TOKENS.len())]).collect();
        check(&text, 0);
    }
}
