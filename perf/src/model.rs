//! The results of an RFC 2544 run: what the runner measures and the
//! reports (JSON, CSV, plots, the summary table) print. Rates are in
//! frames per second (of the offered frame kind, see [`Cell::frame_octets`]).

/// Mean, 95 % confidence interval and the samples (one per repetition).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stat {
    /// Arithmetic mean of `samples` (0 when empty).
    pub mean: f64,
    /// Half-width of the 95 % confidence interval of the mean (Student's
    /// t with `samples.len() - 1` degrees of freedom; 0 with one sample).
    pub ci95: f64,
    pub samples: Vec<f64>,
}

impl Stat {
    /// The mean and 95 % confidence half-width of `samples`.
    pub fn of(samples: &[f64]) -> Stat {
        let n = samples.len();
        if n == 0 {
            return Stat::default();
        }
        let mean = samples.iter().sum::<f64>() / n as f64;
        let ci95 = if n < 2 {
            0.0
        } else {
            let var = samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            student_t95(n - 1) * (var / n as f64).sqrt()
        };
        Stat {
            mean,
            ci95,
            samples: samples.to_vec(),
        }
    }
}

/// Two-sided 95 % quantile of Student's t distribution with `df` degrees
/// of freedom (table up to 30, then the normal approximation's 1.96 with
/// a 1/df correction that stays within 0.3 % of the true value).
pub fn student_t95(df: usize) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::NAN,
        1..=30 => T[df - 1],
        _ => 1.960 + 2.4 / df as f64,
    }
}

/// Why a trial was run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrialKind {
    /// Warm-up (not counted).
    Warmup,
    /// At the maximum offered rate: the MRR.
    Mrr,
    /// A step of the binary search.
    Search,
    /// A latency trial (at a fraction of the PDR).
    Latency,
}

impl TrialKind {
    pub fn name(self) -> &'static str {
        match self {
            TrialKind::Warmup => "warmup",
            TrialKind::Mrr => "mrr",
            TrialKind::Search => "search",
            TrialKind::Latency => "latency",
        }
    }
}

/// One trial: a fixed offered rate for a fixed time.
#[derive(Debug, Clone, PartialEq)]
pub struct Trial {
    pub repetition: usize,
    pub kind: TrialKind,
    /// The rate asked of the generator.
    pub target_pps: f64,
    /// Frames the generator offered (including those the SUT's input
    /// refused) and the rate they were offered at.
    pub offered: u64,
    pub offered_pps: f64,
    /// Frames that came back intact (sink) plus, for collector scenarios,
    /// the STAMP packets the SUT consumed.
    pub delivered: u64,
    /// (offered - delivered) / offered.
    pub loss_ratio: f64,
    pub seconds: f64,
}

/// Latency at one load (RFC 2544 §26.2), from timestamped probe frames.
#[derive(Debug, Clone, PartialEq)]
pub struct Latency {
    /// The load as a percentage of the PDR (50 or 90).
    pub pct_of_pdr: f64,
    pub offered_pps: f64,
    pub probes: u64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
}

/// The outcome of one cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Measured,
    /// Not measurable on this SUT or machine (the reason, e.g. "End is an
    /// SRv6 behaviour: the kernel runs it only with seg6local ...").
    NotApplicable(String),
    /// The measurement failed (the error).
    Failed(String),
}

/// One (scenario, SUT, STAMP fraction) cell of the run.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// Scenario name, e.g. "ipv6-fwd", "h-encaps-v6-2sid", "stamp-reflector".
    pub scenario: String,
    /// What it measures, one line.
    pub description: String,
    /// "kernel" (its seg6), "kernel-ipv6-fwd" (its plain forwarding, see
    /// [`RunInfo::kernel_sut`]), "srv6d", "l2fwd" (the AF_XDP ceiling) or
    /// "generator" (the generator's own ceiling).
    pub sut: String,
    /// STAMP share of the offered frames, in percent (STAMP scenarios only).
    pub stamp_pct: Option<f64>,
    /// Octets of the data frames offered (without FCS).
    pub frame_octets: usize,
    pub status: Status,
    pub pdr: Stat,
    pub ndr: Stat,
    pub mrr: Stat,
    /// The PDR is within 5 % of the generator's ceiling (measured in the
    /// same run): it is the generator's figure, not the SUT's.
    pub generator_limited: bool,
    /// At 50 % and 90 % of the PDR (empty when not measured).
    pub latency: Vec<Latency>,
    pub trials: Vec<Trial>,
    /// Counter reconciliation (srv6d only): what the SUT says it sent or
    /// consumed minus what the receiver counted, per repetition's MRR trial;
    /// empty when not checked.
    pub unaccounted: Vec<i64>,
}

/// The run's parameters and the machine.
#[derive(Debug, Clone, PartialEq)]
pub struct RunInfo {
    /// UTC, RFC 3339.
    pub date: String,
    pub kernel: String,
    pub cpu_model: String,
    pub cpus: usize,
    /// The command line.
    pub command: String,
    pub quick: bool,
    pub sut_core: usize,
    pub gen_core: usize,
    /// The PDR's drop ratio (0.005 = 0.5 %).
    pub drop_ratio: f64,
    /// Binary search stops when upper - lower <= resolution * MRR.
    pub resolution: f64,
    /// Search trials per search at most, and re-runs of a failed one.
    pub max_trials: usize,
    pub retests: usize,
    pub trial_seconds: f64,
    pub warmup_seconds: f64,
    pub repetitions: usize,
    /// The traffic generator used: `live` (XDP live frames) or `packet`
    /// (AF_PACKET sendmmsg).
    pub generator: String,
    /// The generator asked for (`--generator`).
    pub generator_requested: String,
    /// Why the run fell back from the live generator to the AF_PACKET
    /// one (None: it used the one asked for).
    pub generator_fallback: Option<String>,
    /// The kernel SUT's name in the cells: `kernel` (its seg6) or
    /// `kernel-ipv6-fwd` (its plain forwarding, where it has no seg6).
    pub kernel_sut: String,
    /// What that kernel SUT is, and why it was chosen.
    pub kernel_sut_description: String,
    /// The generator's ceiling (frames/s) measured in this run.
    pub generator_pps: f64,
    pub seconds_total: f64,
}

/// Everything a run produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub info: RunInfo,
    pub cells: Vec<Cell>,
}
