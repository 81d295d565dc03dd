//! `auditlog verify` of several files of one rotated log (`mv audit_log.json audit_log.json.1`
//! and the logger carries on in a new `audit_log.json`): each file is checked on its own,
//! against the digests of all of them, and then the files, put in chain order, must form
//! one chain: each file's first link names the previous file's head and takes the next
//! sequence number, so a rotated file deleted from between two others is found. The
//! digests' cover is checked once for the set: a signed digest vouches for every event
//! before it in the chain, whichever file holds it.

use audit_runtime::integrity::{self, ChainReport, DigestLine, PublicKey, short};

use super::{print_digest_problem, verify_file};
use crate::CliError;
use crate::error::PROBLEMS;
use crate::source::{self, LogFile};

/// One file of the set, verified.
struct Member {
    log: LogFile,
    chain: ChainReport,
}

pub(super) fn verify(
    paths: &[std::path::PathBuf],
    key: Option<&PublicKey>,
    threads: Option<u8>,
) -> Result<u8, CliError> {
    let logs = paths
        .iter()
        .map(|p| source::open(p))
        .collect::<Result<Vec<_>, _>>()?;
    let Some(digests) = set_digests(&logs, key)? else {
        return Ok(PROBLEMS);
    };
    let mut members = Vec::with_capacity(logs.len());
    for log in logs {
        match verify_file(&log, key, digests.clone(), Some(paths.len()), threads)? {
            (0, Some(chain)) if chain.head.is_some() => members.push(Member { log, chain }),
            (0, _) => {
                println!(
                    "problem: {}: holds no hash chain, so it cannot be placed in a rotated set \
                     (verify it on its own)",
                    log.path.display()
                );
                return Ok(PROBLEMS);
            }
            (code, _) => return Ok(code),
        }
    }
    members.sort_by_key(|m| m.chain.first_seq);
    match check_links(&members, &digests, key.is_some()) {
        Ok(summary) => {
            println!("ok: {summary}");
            Ok(0)
        }
        Err(problem) => {
            println!("problem: {problem}");
            Ok(PROBLEMS)
        }
    }
}

/// The digests of every file's sidecar, and of the sidecar of the log's own name in each
/// file's directory (`audit_log.json.digests`: the logger goes on appending there after a
/// rotation, so it holds the digests of the rotated files too, whether or not the current
/// file is one of those given), each sidecar checked; `None` after printing a problem.
fn set_digests(
    logs: &[LogFile],
    key: Option<&PublicKey>,
) -> Result<Option<Vec<DigestLine>>, CliError> {
    let mut sidecars_of: Vec<std::path::PathBuf> = Vec::new();
    for log in logs {
        let current = log
            .format
            .file_name()
            .zip(log.path.parent())
            .map(|(name, dir)| dir.join(name));
        for path in std::iter::once(log.path.clone()).chain(current) {
            if !sidecars_of.contains(&path) {
                sidecars_of.push(path);
            }
        }
    }
    let mut all: Vec<DigestLine> = Vec::new();
    for log in &sidecars_of {
        match integrity::load_digests(log, key)? {
            Ok(digests) => {
                for d in digests {
                    match all.iter().find(|known| known.seq == d.seq) {
                        None => all.push(d),
                        Some(known) if known.hash == d.hash => {}
                        Some(known) => {
                            println!(
                                "problem: {}: line {}: a digest of seq {} names hash {}, but \
                                 another sidecar's digest of that seq names {}",
                                integrity::sidecar_path(log).display(),
                                d.line,
                                d.seq,
                                short(&d.hash),
                                short(&known.hash)
                            );
                            return Ok(None);
                        }
                    }
                }
            }
            Err(p) => {
                print_digest_problem(log, &p);
                return Ok(None);
            }
        }
    }
    Ok(Some(all))
}

/// The files in chain order must link up, and the newest must reach every digest.
fn check_links(members: &[Member], digests: &[DigestLine], keyed: bool) -> Result<String, String> {
    let name = |m: &Member| m.log.path.display().to_string();
    for pair in members.windows(2) {
        let (older, newer) = (&pair[0], &pair[1]);
        let (head, hash) = older.chain.head.unwrap_or((0, [0; 32]));
        let first = newer.chain.first_seq.unwrap_or(0);
        if first <= head {
            return Err(format!(
                "{} (seq {first}..) and {} (seq ..{head}) overlap: the same events in two files, \
                 or two chains",
                name(newer),
                name(older)
            ));
        }
        if first > head + 1 {
            return Err(format!(
                "seq {}..{} are missing between {} (head seq {head}) and {} (first seq {first}): \
                 a rotated file was deleted, or not given",
                head + 1,
                first - 1,
                name(older),
                name(newer)
            ));
        }
        if newer.chain.continues != Some(hash) {
            return Err(format!(
                "{}'s first event (seq {first}) does not continue {}'s head ({}): the files are \
                 not one chain",
                name(newer),
                name(older),
                short(&hash)
            ));
        }
    }
    let (Some(oldest), Some(newest)) = (members.first(), members.last()) else {
        return Err("no files".to_owned());
    };
    let (head, hash) = newest.chain.head.unwrap_or((0, [0; 32]));
    if let Some(max) = digests.iter().map(|d| d.seq).max()
        && max > head
    {
        return Err(format!(
            "the newest file, {}, ends at seq {head}, but a digest names seq {max}: the newest \
             {} events were cut off",
            name(newest),
            max - head
        ));
    }
    let matched: u64 = members.iter().map(|m| m.chain.digests_matched).sum();
    if keyed && matched == 0 {
        return Err(
            "no signed digest names any of the set's chained events: the digests were deleted, \
             or the log was not written with this signing key"
                .to_owned(),
        );
    }
    let events: u64 = members.iter().map(|m| m.chain.chained).sum();
    let from = oldest.chain.first_seq.unwrap_or(0);
    let mut summary = format!(
        "{} files form one chain: seq {from}..{head}, {events} chained events, head {}; in \
         order: {}",
        members.len(),
        short(&hash),
        members.iter().map(name).collect::<Vec<_>>().join(", ")
    );
    if oldest.chain.continues.is_some() {
        summary.push_str(&format!(
            " (the oldest continues an earlier file's head {}, not given)",
            short(&oldest.chain.continues.unwrap_or_default())
        ));
    }
    Ok(summary)
}
