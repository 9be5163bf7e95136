//! Bounded memory for work that grows with a file: temporary files in the upload storage
//! directory (deleted when dropped; the upload prune removes those a crash left behind) and an
//! external sort of fixed-size records, in sorted runs of bounded size merged k ways. When every
//! record fits in one run nothing is written to disk.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Records per sorted run by default: 64 MB of memory at most, whatever the file.
pub const DEFAULT_RUN_BYTES: usize = 64 << 20;

/// Bytes read at a time from each run (or chunk) being merged.
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// A temporary file, deleted when dropped. Named `<random>.tmp` in the storage directory, so
/// the upload prune (`prune_unused_uploads`) deletes one a crash left behind once it is stale.
pub struct TempFile {
    path: PathBuf,
    file: File,
}

impl TempFile {
    /// A new, empty temporary file in `dir` (created if missing).
    pub fn new(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!("{:032x}.tmp", rand::random::<u128>()));
        let file = std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&path)?;
        // Unix: the name goes at once and the open handle keeps the data, so even a killed
        // process leaves nothing on disk (elsewhere, `Drop` and the daily prune delete it).
        #[cfg(unix)]
        let _ = std::fs::remove_file(&path);
        Ok(Self { path, file })
    }

    pub fn file(&self) -> &File {
        &self.file
    }

    /// Reads exactly `buf.len()` bytes at `offset`.
    pub fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        read_exact_at(&self.file, buf, offset)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(windows)]
fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        let n = std::os::windows::fs::FileExt::seek_read(file, buf, offset)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf = &mut buf[n..];
        offset += n as u64;
    }
    Ok(())
}

/// A byte range of a [`TempFile`] read as a stream, through a small buffer of its own (so many
/// ranges can be read at once, each costing only its buffer).
pub struct RangeReader<'f> {
    file: &'f TempFile,
    pos: u64,
    end: u64,
}

impl<'f> RangeReader<'f> {
    pub fn new(file: &'f TempFile, start: u64, end: u64) -> Self {
        Self { file, pos: start, end }
    }
}

impl io::Read for RangeReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = usize::try_from(self.end - self.pos).unwrap_or(usize::MAX);
        let n = buf.len().min(left);
        if n == 0 {
            return Ok(0);
        }
        self.file.read_exact_at(&mut buf[..n], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// A record of fixed size, as an external sort writes it to disk.
pub trait Record: Copy {
    const SIZE: usize;
    fn encode(&self, out: &mut [u8]);
    fn decode(bytes: &[u8]) -> Self;
}

/// The order an external sort puts its records in.
pub type Order<T> = fn(&T, &T) -> Ordering;

/// Sorts records of any number in bounded memory: records gather in memory up to the run size;
/// a full run is sorted and appended to a temporary file; [`ExternalSort::finish`] merges the
/// runs. With one run (the whole input fits) nothing touches the disk.
pub struct ExternalSort<T: Record> {
    buf: Vec<T>,
    run_records: usize,
    order: Order<T>,
    dir: PathBuf,
    spill: Option<(TempFile, Vec<(u64, u64)>)>,
    len: u64,
}

impl<T: Record> ExternalSort<T> {
    /// A sort whose runs hold at most `run_bytes` of records (at least one), spilling to
    /// temporary files in `dir`.
    pub fn new(dir: &Path, run_bytes: usize, order: Order<T>) -> Self {
        // Held in memory as `T` (larger than its encoded `SIZE`).
        let run_records = (run_bytes / std::mem::size_of::<T>().max(T::SIZE)).max(1);
        Self { buf: Vec::new(), run_records, order, dir: dir.to_owned(), spill: None, len: 0 }
    }

    /// Records pushed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn push(&mut self, record: T) -> io::Result<()> {
        if self.buf.len() >= self.run_records {
            self.spill_run()?;
        }
        if self.buf.capacity() == 0 {
            // One allocation of the run's size; pages untouched cost nothing.
            self.buf.reserve_exact(self.run_records);
        }
        self.buf.push(record);
        self.len += 1;
        Ok(())
    }

    /// Sorts the records in memory and appends them to the temporary file as one run.
    fn spill_run(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.buf.sort_unstable_by(self.order);
        if self.spill.is_none() {
            self.spill = Some((TempFile::new(&self.dir)?, Vec::new()));
        }
        let Some((file, runs)) = self.spill.as_mut() else { unreachable!() };
        let start = runs.last().map_or(0, |&(s, n)| s + n * T::SIZE as u64);
        let mut out = io::BufWriter::with_capacity(READ_BUFFER_BYTES, file.file());
        std::io::Seek::seek(&mut out, io::SeekFrom::Start(start))?;
        let mut bytes = vec![0_u8; T::SIZE];
        for record in &self.buf {
            record.encode(&mut bytes);
            out.write_all(&bytes)?;
        }
        out.flush()?;
        runs.push((start, self.buf.len() as u64));
        self.buf.clear();
        Ok(())
    }

    /// All the records, in order.
    pub fn finish(mut self) -> io::Result<Sorted<T>> {
        match self.spill.take() {
            None => {
                self.buf.sort_unstable_by(self.order);
                Ok(Sorted::Memory(std::mem::take(&mut self.buf).into_iter()))
            }
            Some(spill) => {
                self.spill = Some(spill);
                self.spill_run()?;
                self.buf = Vec::new();
                let Some((file, runs)) = self.spill.take() else { unreachable!() };
                Ok(Sorted::Merge(Merge::new(file, &runs, self.order)?))
            }
        }
    }

    /// The records in this sort's order, each passed to `each` (which may change it), sorted
    /// again into a new sort by `order`. In memory when there was one run.
    pub fn resort(mut self, order: Order<T>, mut each: impl FnMut(&mut T)) -> io::Result<ExternalSort<T>> {
        if self.spill.is_none() {
            self.buf.sort_unstable_by(self.order);
            self.buf.iter_mut().for_each(&mut each);
            self.order = order;
            return Ok(self);
        }
        let mut next =
            ExternalSort::new(&self.dir, self.run_records * std::mem::size_of::<T>().max(T::SIZE), order);
        let mut sorted = self.finish()?;
        while let Some(mut record) = sorted.next_record()? {
            each(&mut record);
            next.push(record)?;
        }
        Ok(next)
    }
}

/// Sorted records: from memory, or merged from the runs of a temporary file.
pub enum Sorted<T: Record> {
    Memory(std::vec::IntoIter<T>),
    Merge(Merge<T>),
}

impl<T: Record> Sorted<T> {
    pub fn next_record(&mut self) -> io::Result<Option<T>> {
        match self {
            Sorted::Memory(records) => Ok(records.next()),
            Sorted::Merge(merge) => merge.next_record(),
        }
    }
}

/// One run being merged: its next records, read through a small buffer.
struct Run {
    pos: u64,
    left: u64,
    buf: Vec<u8>,
    at: usize,
}

/// A record at the head of a run, ordered for a min-heap (ties by run: runs hold earlier
/// records first, so the merge is stable).
struct Head<T> {
    record: T,
    run: usize,
    order: Order<T>,
}

impl<T> PartialEq for Head<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl<T> Eq for Head<T> {}
impl<T> PartialOrd for Head<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Head<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.order)(&other.record, &self.record).then(other.run.cmp(&self.run))
    }
}

/// The k-way merge of sorted runs; the temporary file goes when the merge is dropped.
pub struct Merge<T: Record> {
    file: TempFile,
    runs: Vec<Run>,
    heap: BinaryHeap<Head<T>>,
    order: Order<T>,
}

impl<T: Record> Merge<T> {
    fn new(file: TempFile, runs: &[(u64, u64)], order: Order<T>) -> io::Result<Self> {
        let per_run = (READ_BUFFER_BYTES / T::SIZE).max(1) * T::SIZE;
        let mut merge = Self {
            file,
            runs: runs
                .iter()
                .map(|&(pos, left)| Run { pos, left, buf: Vec::with_capacity(per_run), at: 0 })
                .collect(),
            heap: BinaryHeap::with_capacity(runs.len()),
            order,
        };
        for run in 0..merge.runs.len() {
            if let Some(record) = merge.read(run)? {
                merge.heap.push(Head { record, run, order });
            }
        }
        Ok(merge)
    }

    /// The next record of `run`, refilling its buffer when it is used up.
    fn read(&mut self, run: usize) -> io::Result<Option<T>> {
        let r = &mut self.runs[run];
        if r.at >= r.buf.len() {
            if r.left == 0 {
                return Ok(None);
            }
            let records = (r.buf.capacity() / T::SIZE).max(1) as u64;
            let n = r.left.min(records);
            let bytes = usize::try_from(n).unwrap_or(usize::MAX) * T::SIZE;
            r.buf.resize(bytes, 0);
            self.file.read_exact_at(&mut r.buf, r.pos)?;
            r.pos += bytes as u64;
            r.left -= n;
            r.at = 0;
        }
        let record = T::decode(&r.buf[r.at..r.at + T::SIZE]);
        r.at += T::SIZE;
        Ok(Some(record))
    }

    fn next_record(&mut self) -> io::Result<Option<T>> {
        let Some(Head { record, run, .. }) = self.heap.pop() else { return Ok(None) };
        if let Some(next) = self.read(run)? {
            self.heap.push(Head { record: next, run, order: self.order });
        }
        Ok(Some(record))
    }
}

/// A set of line numbers (a bit each: a file of 256 MB has fewer lines than 2^31, so 32 MB at
/// most; a resumed task's committed rows).
#[derive(Debug, Default)]
pub struct LineSet {
    words: Vec<u64>,
    len: usize,
}

impl LineSet {
    pub fn insert(&mut self, line: u64) {
        let word = usize::try_from(line / 64).unwrap_or(usize::MAX);
        if word >= self.words.len() {
            self.words.resize(word + 1, 0);
        }
        let bit = 1_u64 << (line % 64);
        if self.words[word] & bit == 0 {
            self.words[word] |= bit;
            self.len += 1;
        }
    }

    pub fn contains(&self, line: u64) -> bool {
        usize::try_from(line / 64)
            .ok()
            .and_then(|w| self.words.get(w))
            .is_some_and(|w| w & (1_u64 << (line % 64)) != 0)
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::{ExternalSort, LineSet, Record};

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    struct Pair(u64, u64);

    impl Record for Pair {
        const SIZE: usize = 16;
        fn encode(&self, out: &mut [u8]) {
            out[..8].copy_from_slice(&self.0.to_le_bytes());
            out[8..16].copy_from_slice(&self.1.to_le_bytes());
        }
        fn decode(b: &[u8]) -> Self {
            Pair(
                u64::from_le_bytes(b[..8].try_into().expect("8")),
                u64::from_le_bytes(b[8..16].try_into().expect("8")),
            )
        }
    }

    fn by_first(a: &Pair, b: &Pair) -> std::cmp::Ordering {
        a.0.cmp(&b.0).then(a.1.cmp(&b.1))
    }
    fn by_second(a: &Pair, b: &Pair) -> std::cmp::Ordering {
        a.1.cmp(&b.1)
    }

    fn sorted(run_bytes: usize, input: &[Pair]) -> (Vec<Pair>, Vec<Pair>, usize) {
        let dir = tempfile::tempdir().expect("dir");
        let mut sort = ExternalSort::new(dir.path(), run_bytes, by_first);
        for p in input {
            sort.push(*p).expect("push");
        }
        assert_eq!(sort.len(), input.len() as u64);
        let mut first = Vec::new();
        let mut seen = 0_usize;
        let resorted = sort
            .resort(by_second, |p| {
                seen += 1;
                first.push(*p);
                p.0 += 1;
            })
            .expect("resort");
        let mut out = Vec::new();
        let mut s = resorted.finish().expect("finish");
        while let Some(p) = s.next_record().expect("next") {
            out.push(p);
        }
        drop(s);
        let left = std::fs::read_dir(dir.path()).expect("dir").count();
        assert_eq!(left, 0, "temporary files are deleted");
        (first, out, seen)
    }

    #[test]
    fn many_tiny_runs_sort_as_one_run_does() {
        let mut x = 12345_u64;
        let input: Vec<Pair> = (0..5000_u64)
            .map(|i| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                Pair((x >> 40) % 300, i)
            })
            .collect();
        let one = sorted(1 << 20, &input);
        for run_bytes in [16, 16 * 7, 16 * 100, 16 * 4999, 16 * 5000] {
            assert_eq!(sorted(run_bytes, &input), one, "runs of {run_bytes} bytes");
        }
        let mut expected = input.clone();
        expected.sort_by(by_first);
        assert_eq!(one.0, expected);
        assert_eq!(one.1.iter().map(|p| p.1).collect::<Vec<_>>(), (0..5000).collect::<Vec<_>>());
        assert!(one.1.iter().zip(&input).all(|(a, b)| a.0 == b.0 + 1), "changes are kept");
    }

    #[test]
    fn an_empty_sort_is_empty() {
        assert_eq!(sorted(16, &[]).1, []);
    }

    #[test]
    fn a_line_set_holds_its_lines() {
        let mut set = LineSet::default();
        assert!(set.is_empty());
        for line in [2, 63, 64, 1000, 2, 1_000_000] {
            set.insert(line);
        }
        assert_eq!(set.len(), 5);
        assert!(set.contains(63) && set.contains(64) && set.contains(1_000_000));
        assert!(!set.contains(3) && !set.contains(65) && !set.contains(u64::MAX));
    }
}
