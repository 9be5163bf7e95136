//! Reading rejection files (docs/DOMAIN.md §3): the file-level checks that refuse a whole file, delimiter
//! sniffing, and a streaming row reader that can resume at a byte offset. Never holds the whole
//! file in memory; never panics on bad input.

use std::fmt;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

/// Largest accepted file.
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
/// Delimiters we sniff, in tie-break order.
pub const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];
/// Most columns a file's header row may name; a rejection file needs two.
pub const MAX_COLUMNS: usize = 1000;
/// Longest column name accepted in the header row.
pub const MAX_HEADER_CHARS: usize = 256;

/// Why a whole file is refused. The `Display` text is shown to users as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileRefusal {
    Empty,
    TooLarge { limit: u64 },
    NotCsv(&'static str),
    NoHeader,
    MissingColumn(String),
    Unreadable(String),
    TooManyColumns { limit: usize },
    HeaderTooLong { limit: usize },
}

impl fmt::Display for FileRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileRefusal::Empty => f.write_str("The file is empty. Upload a CSV file with a header row and one row per lead."),
            FileRefusal::TooLarge { limit } => {
                write!(f, "The file is larger than {} MB. Split it into smaller files.", limit / (1024 * 1024))
            }
            FileRefusal::NotCsv(what) => write!(
                f,
                "This is not a CSV file ({what}). Save it as CSV (comma-separated values) and upload that."
            ),
            FileRefusal::NoHeader => f.write_str(
                "The file has no header row. Add a first row that names the columns, e.g. \"Lead ID,Reason\".",
            ),
            FileRefusal::MissingColumn(name) => {
                write!(f, "The column \"{name}\" is not in the file's header row.")
            }
            FileRefusal::Unreadable(why) => write!(f, "The file could not be read: {why}."),
            FileRefusal::TooManyColumns { limit } => write!(
                f,
                "The header row has more than {limit} columns. Keep the identifier and reason columns and upload that."
            ),
            FileRefusal::HeaderTooLong { limit } => write!(
                f,
                "A column name in the header row is longer than {limit} characters. Check that the first row names the columns."
            ),
        }
    }
}

/// What the file-level inspection learnt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileShape {
    pub delimiter: u8,
    pub headers: Vec<String>,
    /// Byte offset where the data rows start (after the BOM and the header row).
    pub data_offset: u64,
    /// Spreadsheet row number of the header row (1 unless blank lines precede it).
    pub header_line: u64,
    /// Spreadsheet row number at `data_offset` (see [`RowCounter`]).
    pub data_line: u64,
}

impl FileShape {
    /// Index of the column named `name` (exact match after trimming).
    pub fn column(&self, name: &str) -> Result<usize, FileRefusal> {
        let want = name.trim();
        self.headers
            .iter()
            .position(|h| h.trim() == want)
            .ok_or_else(|| FileRefusal::MissingColumn(want.to_owned()))
    }
}

fn io_refusal(e: std::io::Error) -> FileRefusal {
    FileRefusal::Unreadable(e.to_string())
}

/// Runs the file-level checks and reads the header: size, binary signatures, NUL bytes (the
/// whole file is scanned, in chunks), delimiter, header row.
pub fn inspect(path: &Path) -> Result<FileShape, FileRefusal> {
    let mut file = File::open(path).map_err(io_refusal)?;
    let len = file.metadata().map_err(io_refusal)?.len();
    if len == 0 {
        return Err(FileRefusal::Empty);
    }
    if len > MAX_FILE_BYTES {
        return Err(FileRefusal::TooLarge { limit: MAX_FILE_BYTES });
    }
    let mut head = vec![0_u8; 8];
    let n = read_up_to(&mut file, &mut head).map_err(io_refusal)?;
    head.truncate(n);
    if let Some(what) = binary_signature(&head) {
        return Err(FileRefusal::NotCsv(what));
    }
    file.seek(SeekFrom::Start(0)).map_err(io_refusal)?;
    let mut buf = vec![0_u8; 64 * 1024];
    let mut any_content = false;
    let mut first = true;
    loop {
        let n = file.read(&mut buf).map_err(io_refusal)?;
        if n == 0 {
            break;
        }
        let mut chunk = &buf[..n];
        if first {
            chunk = chunk.strip_prefix(UTF8_BOM).unwrap_or(chunk);
            first = false;
        }
        if chunk.contains(&0) {
            return Err(FileRefusal::NotCsv("it contains binary data (NUL bytes)"));
        }
        any_content |= chunk.iter().any(|b| !b.is_ascii_whitespace());
    }
    if !any_content {
        return Err(FileRefusal::Empty);
    }
    read_header(path)
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut total = 0;
    while total < buf.len() {
        let n = file.read(&mut buf[total..])?;
        if n == 0 {
            break;
        }
        total += n;
    }
    Ok(total)
}

/// Recognises files that are clearly not text.
pub fn binary_signature(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        Some("it is a ZIP archive, such as an Excel .xlsx workbook")
    } else if head.starts_with(b"\xD0\xCF\x11\xE0") {
        Some("it is an old-style Excel .xls workbook")
    } else if head.starts_with(b"%PDF") {
        Some("it is a PDF document")
    } else if head.starts_with(b"\x1F\x8B") {
        Some("it is a gzip archive")
    } else if head.starts_with(b"\x89PNG") || head.starts_with(b"\xFF\xD8\xFF") {
        Some("it is an image")
    } else if head.starts_with(b"\xFF\xFE") || head.starts_with(b"\xFE\xFF") {
        Some("it is UTF-16 text; save it as UTF-8 CSV")
    } else {
        None
    }
}

/// Picks the delimiter that splits the header line most, counting outside quotes.
pub fn sniff_delimiter(header_line: &[u8]) -> u8 {
    let mut counts = [0_usize; DELIMITERS.len()];
    let mut in_quotes = false;
    for &b in header_line {
        if b == b'"' {
            in_quotes = !in_quotes;
        } else if !in_quotes && let Some(i) = DELIMITERS.iter().position(|d| *d == b) {
            counts[i] += 1;
        }
    }
    let mut best = 0;
    for i in 1..DELIMITERS.len() {
        if counts[i] > counts[best] {
            best = i;
        }
    }
    DELIMITERS[best]
}

/// A header cell that looks like a value rather than a column name (a number, an email, a UUID).
fn looks_like_value(cell: &str) -> bool {
    let c = cell.trim();
    if c.is_empty() {
        return false;
    }
    let digits = c.chars().filter(char::is_ascii_digit).count();
    c.chars().all(|ch| ch.is_ascii_digit() || matches!(ch, '+' | ' ' | '-' | '(' | ')' | '.')) && digits > 0
        || (c.contains('@') && c.contains('.'))
        || (c.len() == 36 && c.chars().filter(|ch| *ch == '-').count() == 4)
}

fn read_header(path: &Path) -> Result<FileShape, FileRefusal> {
    let mut file = BufReader::new(File::open(path).map_err(io_refusal)?);
    let mut bom = [0_u8; 3];
    let n = read_exact_or_less(&mut file, &mut bom).map_err(io_refusal)?;
    let start = if n == 3 && bom == *UTF8_BOM { 3 } else { 0 };
    // The first non-blank line, raw, for sniffing.
    let mut file = BufReader::new(File::open(path).map_err(io_refusal)?);
    file.seek(SeekFrom::Start(start)).map_err(io_refusal)?;
    let mut line = Vec::new();
    let mut offset = start;
    let mut header_line = 1;
    loop {
        line.clear();
        let n = read_line(&mut file, &mut line).map_err(io_refusal)?;
        if n == 0 {
            return Err(FileRefusal::Empty);
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            offset += n as u64;
            header_line += 1;
            continue;
        }
        break;
    }
    let delimiter = sniff_delimiter(&line);
    let mut file = File::open(path).map_err(io_refusal)?;
    file.seek(SeekFrom::Start(offset)).map_err(io_refusal)?;
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(BufReader::new(file));
    let mut record = csv::ByteRecord::new();
    if !reader.read_byte_record(&mut record).map_err(|e| FileRefusal::Unreadable(e.to_string()))? {
        return Err(FileRefusal::Empty);
    }
    if record.len() > MAX_COLUMNS {
        return Err(FileRefusal::TooManyColumns { limit: MAX_COLUMNS });
    }
    let headers: Vec<String> = record.iter().map(|c| String::from_utf8_lossy(c).trim().to_owned()).collect();
    if headers.iter().any(|h| h.chars().count() > MAX_HEADER_CHARS) {
        return Err(FileRefusal::HeaderTooLong { limit: MAX_HEADER_CHARS });
    }
    let non_empty: Vec<&String> = headers.iter().filter(|h| !h.is_empty()).collect();
    // Column names are never numbers, emails or UUIDs: a first row holding one is data.
    if non_empty.is_empty() || non_empty.iter().any(|h| looks_like_value(h)) {
        return Err(FileRefusal::NoHeader);
    }
    let data_offset = offset + reader.position().byte();
    let mut counter = RowCounter::open(path, offset, header_line)?;
    let data_line = counter.end_record(data_offset, &record).map_err(io_refusal)?;
    Ok(FileShape { delimiter, headers, data_offset, header_line, data_line })
}

fn read_exact_or_less(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut total = 0;
    while total < buf.len() {
        let n = r.read(&mut buf[total..])?;
        if n == 0 {
            break;
        }
        total += n;
    }
    Ok(total)
}

/// Reads one line (up to and including `\n`, or a lone `\r`), returning its length in bytes.
fn read_line(r: &mut BufReader<File>, out: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut byte = [0_u8; 1];
    loop {
        if r.read(&mut byte)? == 0 {
            return Ok(out.len());
        }
        out.push(byte[0]);
        if byte[0] == b'\n' {
            return Ok(out.len());
        }
        if byte[0] == b'\r' {
            // CRLF or a lone CR: peek at the next byte.
            let mut next = [0_u8; 1];
            if r.read(&mut next)? == 1 {
                if next[0] == b'\n' {
                    out.push(b'\n');
                } else {
                    r.seek_relative(-1)?;
                }
            }
            return Ok(out.len());
        }
    }
}

/// One data row as read: its spreadsheet row number, cells (raw bytes), and the byte offset
/// where the next row starts (the resume cursor once this row is committed).
#[derive(Debug, Clone)]
pub struct RawRow {
    /// The row number a spreadsheet shows for it (docs/DOMAIN.md, "Row numbers").
    pub line: u64,
    /// Byte offset where the row starts.
    pub offset: u64,
    pub cells: csv::ByteRecord,
    pub next_offset: u64,
    /// Spreadsheet row number at `next_offset`: with it, the cursor resumes the numbering.
    pub next_line: u64,
    /// Set when the row runs to the end of the file inside an unclosed quote.
    pub unterminated_quote: bool,
}

impl RawRow {
    /// The cell at `index` as text: `Err` with a reason when missing or not UTF-8.
    pub fn text(&self, index: usize) -> Result<&str, String> {
        match self.cells.get(index) {
            None => Err(format!("the row has {} column(s); the mapped column is missing", self.cells.len())),
            Some(bytes) => {
                std::str::from_utf8(bytes).map_err(|_| "the cell is not valid UTF-8 text".to_owned())
            }
        }
    }
}

/// Streams data rows from `offset` (a `data_offset` or a committed cursor), skipping blank lines.
pub struct RowReader {
    reader: csv::Reader<BufReader<File>>,
    base_offset: u64,
    lines: RowCounter,
    file_len: u64,
    path: std::path::PathBuf,
    record: csv::ByteRecord,
}

impl RowReader {
    /// `line` is the spreadsheet row number of the row that starts at `offset`.
    pub fn open(path: &Path, delimiter: u8, offset: u64, line: u64) -> Result<Self, FileRefusal> {
        let mut file = File::open(path).map_err(io_refusal)?;
        let file_len = file.metadata().map_err(io_refusal)?.len();
        file.seek(SeekFrom::Start(offset)).map_err(io_refusal)?;
        let reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .from_reader(BufReader::with_capacity(256 * 1024, file));
        Ok(Self {
            reader,
            base_offset: offset,
            lines: RowCounter::open(path, offset, line)?,
            file_len,
            path: path.to_owned(),
            record: csv::ByteRecord::new(),
        })
    }

    /// The next non-blank row, `None` at the end of the file.
    pub fn next_row(&mut self) -> Result<Option<RawRow>, FileRefusal> {
        loop {
            let more = self
                .reader
                .read_byte_record(&mut self.record)
                .map_err(|e| FileRefusal::Unreadable(e.to_string()))?;
            if !more {
                return Ok(None);
            }
            let next_offset = self.base_offset + self.reader.position().byte();
            if self.record.iter().all(|c| c.iter().all(u8::is_ascii_whitespace)) {
                self.lines.end_record(next_offset, &self.record).map_err(io_refusal)?;
                continue;
            }
            // The row starts at its first non-blank byte after the previous row.
            let (start, line) = self.lines.skip_blank(next_offset).map_err(io_refusal)?;
            let spans_lines = self.record.iter().any(|c| c.contains(&b'\n') || c.contains(&b'\r'));
            let unterminated_quote =
                spans_lines && next_offset >= self.file_len && odd_quotes(&self.path, start, next_offset);
            let next_line = self.lines.end_record(next_offset, &self.record).map_err(io_refusal)?;
            return Ok(Some(RawRow {
                line,
                offset: start,
                cells: self.record.clone(),
                next_offset,
                next_line,
                unterminated_quote,
            }));
        }
    }
}

/// True when the raw bytes in `[from, to)` of the file hold an odd number of `"`.
fn odd_quotes(path: &Path, from: u64, to: u64) -> bool {
    let Ok(mut f) = File::open(path) else { return false };
    if f.seek(SeekFrom::Start(from)).is_err() {
        return false;
    }
    let mut count = 0_u64;
    let mut buf = vec![0_u8; 64 * 1024];
    let mut left = to.saturating_sub(from);
    while left > 0 {
        let want = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
        let Ok(n) = f.read(&mut buf[..want]) else { return false };
        if n == 0 {
            break;
        }
        count += buf[..n].iter().filter(|b| **b == b'"').count() as u64;
        left -= n as u64;
    }
    count % 2 == 1
}

/// Reads single rows at known offsets (rows are applied in lead order, not file order). A small
/// buffer: each read is a seek.
/// A file read at a position that `seek` only records: each fill of the buffer above it is one
/// positioned read (`pread`), with no separate `lseek`, for pass 2's million jumps.
struct PositionedFile {
    file: File,
    pos: u64,
}

impl std::io::Read for PositionedFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        #[cfg(unix)]
        let n = std::os::unix::fs::FileExt::read_at(&self.file, buf, self.pos)?;
        #[cfg(windows)]
        let n = std::os::windows::fs::FileExt::seek_read(&self.file, buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl std::io::Seek for PositionedFile {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        let invalid = || std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start");
        self.pos = match to {
            std::io::SeekFrom::Start(p) => p,
            std::io::SeekFrom::Current(d) => self.pos.checked_add_signed(d).ok_or_else(invalid)?,
            std::io::SeekFrom::End(d) => {
                self.file.metadata()?.len().checked_add_signed(d).ok_or_else(invalid)?
            }
        };
        Ok(self.pos)
    }
}

pub struct RowAt {
    reader: csv::Reader<BufReader<PositionedFile>>,
    path: std::path::PathBuf,
    file_len: u64,
    record: csv::ByteRecord,
}

impl RowAt {
    pub fn open(path: &Path, delimiter: u8) -> Result<Self, FileRefusal> {
        let file = File::open(path).map_err(io_refusal)?;
        let file_len = file.metadata().map_err(io_refusal)?.len();
        let reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .from_reader(BufReader::with_capacity(1024, PositionedFile { file, pos: 0 }));
        Ok(Self { reader, path: path.to_owned(), file_len, record: csv::ByteRecord::new() })
    }

    /// The row starting at `offset` (found by a [`RowReader`] pass), numbered `line`.
    pub fn read_at(&mut self, offset: u64, line: u64) -> Result<RawRow, FileRefusal> {
        let mut pos = csv::Position::new();
        pos.set_byte(offset);
        self.reader.seek(pos).map_err(|e| FileRefusal::Unreadable(e.to_string()))?;
        if !self
            .reader
            .read_byte_record(&mut self.record)
            .map_err(|e| FileRefusal::Unreadable(e.to_string()))?
        {
            return Err(FileRefusal::Unreadable("the file changed while it was being processed".into()));
        }
        let next_offset = self.reader.position().byte();
        let spans_lines = self.record.iter().any(|c| c.contains(&b'\n') || c.contains(&b'\r'));
        let unterminated_quote =
            spans_lines && next_offset >= self.file_len && odd_quotes(&self.path, offset, next_offset);
        Ok(RawRow {
            line,
            offset,
            cells: self.record.clone(),
            next_offset,
            next_line: line,
            unterminated_quote,
        })
    }
}

/// Spreadsheet row numbers by byte offset: a second sequential pass over the file counting line
/// ends (CRLF, LF or a lone CR each end one line), because the csv parser does not count blank
/// lines, less the line ends inside the quoted cells of the records read ([`Self::end_record`]),
/// as a spreadsheet shows a record on one row however many lines its cells hold. A blank line is
/// a row too (a spreadsheet shows it empty), though it is not a data row.
struct RowCounter {
    reader: BufReader<File>,
    pos: u64,
    line: u64,
    after_cr: bool,
}

impl RowCounter {
    fn open(path: &Path, offset: u64, line: u64) -> Result<Self, FileRefusal> {
        let mut file = File::open(path).map_err(io_refusal)?;
        // An offset between the CR and LF of a CRLF must not count the LF as another line.
        let mut after_cr = false;
        if offset > 0 {
            file.seek(SeekFrom::Start(offset - 1)).map_err(io_refusal)?;
            let mut prev = [0_u8; 1];
            after_cr = file.read(&mut prev).map_err(io_refusal)? == 1 && prev[0] == b'\r';
        }
        file.seek(SeekFrom::Start(offset)).map_err(io_refusal)?;
        Ok(Self { reader: BufReader::with_capacity(256 * 1024, file), pos: offset, line, after_cr })
    }

    /// The line number at byte `offset` (offsets must not go backwards).
    fn line_at(&mut self, offset: u64) -> std::io::Result<u64> {
        use std::io::BufRead;
        while self.pos < offset {
            let buf = self.reader.fill_buf()?;
            if buf.is_empty() {
                break;
            }
            let take = usize::try_from((offset - self.pos).min(buf.len() as u64)).unwrap_or(buf.len());
            for &b in &buf[..take] {
                match b {
                    b'\r' => {
                        self.line += 1;
                        self.after_cr = true;
                    }
                    b'\n' => {
                        if !self.after_cr {
                            self.line += 1;
                        }
                        self.after_cr = false;
                    }
                    _ => self.after_cr = false,
                }
            }
            self.reader.consume(take);
            self.pos += take as u64;
        }
        Ok(self.line)
    }
}

impl RowCounter {
    /// The row number at `next_offset`, the end of `record` (read since the last call): the line
    /// ends inside its cells do not start rows.
    fn end_record(&mut self, next_offset: u64, record: &csv::ByteRecord) -> std::io::Result<u64> {
        self.line_at(next_offset)?;
        self.line = self.line.saturating_sub(record.iter().map(line_ends).sum::<u64>());
        Ok(self.line)
    }

    /// Skips whitespace (blank lines) up to `limit`; returns the offset and line of the first
    /// other byte.
    fn skip_blank(&mut self, limit: u64) -> std::io::Result<(u64, u64)> {
        use std::io::BufRead;
        while self.pos < limit {
            let buf = self.reader.fill_buf()?;
            let Some(&b) = buf.first() else { break };
            if !b.is_ascii_whitespace() {
                break;
            }
            self.line_at(self.pos + 1)?;
        }
        Ok((self.pos, self.line))
    }
}

/// Line ends in a cell (CRLF, LF or a lone CR, as [`RowCounter::line_at`] counts them). A line end
/// is in a cell only inside quotes, where the cell keeps its bytes as the file has them.
fn line_ends(cell: &[u8]) -> u64 {
    let mut n = 0;
    let mut after_cr = false;
    for &b in cell {
        n += u64::from(b == b'\r' || (b == b'\n' && !after_cr));
        after_cr = b == b'\r';
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(bytes).unwrap();
        f
    }

    fn rows(bytes: &[u8]) -> (FileShape, Vec<RawRow>) {
        let f = file(bytes);
        let shape = inspect(f.path()).unwrap();
        let mut r = RowReader::open(f.path(), shape.delimiter, shape.data_offset, shape.data_line).unwrap();
        let mut out = Vec::new();
        while let Some(row) = r.next_row().unwrap() {
            out.push(row);
        }
        (shape, out)
    }

    fn cells(row: &RawRow) -> Vec<String> {
        row.cells.iter().map(|c| String::from_utf8_lossy(c).into_owned()).collect()
    }

    #[test]
    fn sniffs_each_delimiter() {
        for (d, text) in [(b',', "a,b,c"), (b';', "a;b;c"), (b'\t', "a\tb\tc"), (b'|', "a|b|c")] {
            assert_eq!(sniff_delimiter(text.as_bytes()), d, "{text}");
        }
        assert_eq!(sniff_delimiter(b"\"a,b\";c"), b';', "commas inside quotes do not count");
        assert_eq!(sniff_delimiter(b"lead_id"), b',', "a single column defaults to comma");
    }

    #[test]
    fn reads_bom_crlf_quotes_and_blank_lines() {
        let (shape, rows) =
            rows(b"\xEF\xBB\xBFLead ID;Reason\r\n\r\n101;\"Wrong; number\"\r\n102;\"two\r\nlines\"\r\n\r\n103;ok\r\n");
        assert_eq!(shape.delimiter, b';');
        assert_eq!(shape.headers, ["Lead ID", "Reason"]);
        assert_eq!(rows.len(), 3);
        assert_eq!(cells(&rows[0]), ["101", "Wrong; number"]);
        assert_eq!(cells(&rows[1]), ["102", "two\r\nlines"]);
        assert_eq!(cells(&rows[2]), ["103", "ok"]);
        assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), [3, 4, 6], "a blank line is a row");
        assert!(rows.iter().all(|r| !r.unterminated_quote));
    }

    #[test]
    fn reads_cr_only_line_ends() {
        let (_, rows) = rows(b"id,reason\r1,a\r2,b\r");
        assert_eq!(rows.iter().map(cells).collect::<Vec<_>>(), [["1", "a"], ["2", "b"]]);
    }

    #[test]
    fn resumes_at_a_cursor() {
        let f = file(b"id,reason\n1,a\n2,b\n3,c\n");
        let shape = inspect(f.path()).unwrap();
        let mut r = RowReader::open(f.path(), shape.delimiter, shape.data_offset, shape.data_line).unwrap();
        let first = r.next_row().unwrap().unwrap();
        let mut r = RowReader::open(f.path(), shape.delimiter, first.next_offset, first.next_line).unwrap();
        let second = r.next_row().unwrap().unwrap();
        assert_eq!(cells(&second), ["2", "b"]);
        assert_eq!(second.line, 3);
    }

    #[test]
    fn numbers_rows_as_a_spreadsheet_shows_them() {
        // A note over three lines (LF, CRLF) is one row; so is a quoted header cell over two.
        let (shape, rows) =
            rows(b"id,\"Reason\nfor it\"\n1,\"first\nsecond\r\nthird\"\n2,plain\n\n3,\"a\rb\"\n4,last");
        assert_eq!((shape.header_line, shape.data_line), (1, 2));
        assert_eq!(shape.headers[1], "Reason\nfor it");
        let numbered: Vec<(u64, String)> = rows.iter().map(|r| (r.line, cells(r)[0].clone())).collect();
        let want = [(2, "1"), (3, "2"), (5, "3"), (6, "4")];
        assert_eq!(numbered, want.map(|(n, id)| (n, id.to_owned())), "the blank line is row 4");
        assert_eq!(rows.iter().map(|r| r.next_line).collect::<Vec<_>>(), [3, 4, 6, 6]);
    }

    #[test]
    fn resumes_the_numbering_after_a_multi_line_row() {
        let f = file(b"id,reason\n1,\"a\nb\nc\"\n2,d\n3,\"e\r\nf\"\n4,g\n");
        let shape = inspect(f.path()).unwrap();
        let mut r = RowReader::open(f.path(), shape.delimiter, shape.data_offset, shape.data_line).unwrap();
        let first = r.next_row().unwrap().unwrap();
        assert_eq!((first.line, first.next_line), (2, 3));
        // A cursor taken after the first row resumes with the same numbers as one pass.
        let mut r = RowReader::open(f.path(), shape.delimiter, first.next_offset, first.next_line).unwrap();
        let rest: Vec<u64> = std::iter::from_fn(|| r.next_row().unwrap()).map(|row| row.line).collect();
        assert_eq!(rest, [3, 4, 5]);
        // Read by offset (pass 2), a row keeps the number pass 1 gave it.
        let mut at = RowAt::open(f.path(), shape.delimiter).unwrap();
        assert_eq!(cells(&at.read_at(first.offset, first.line).unwrap()), ["1", "a\nb\nc"]);
    }

    #[test]
    fn counts_line_ends_in_a_cell_as_the_file_does() {
        assert_eq!(line_ends(b"plain"), 0);
        assert_eq!(line_ends(b"a\nb\r\nc\rd"), 3);
        assert_eq!(line_ends(b"\r\r\n\n"), 3);
    }

    #[test]
    fn refuses_files_that_are_not_csv() {
        let zip = file(b"PK\x03\x04\x14\x00\x06\x00rest of an xlsx");
        assert!(matches!(inspect(zip.path()), Err(FileRefusal::NotCsv(w)) if w.contains("xlsx")));
        let nul = file(b"id,reason\n1,a\x00b\n");
        assert!(matches!(inspect(nul.path()), Err(FileRefusal::NotCsv(w)) if w.contains("NUL")));
        assert_eq!(inspect(file(b"").path()), Err(FileRefusal::Empty));
        assert_eq!(inspect(file(b"\xEF\xBB\xBF \r\n\n").path()), Err(FileRefusal::Empty));
        assert_eq!(
            inspect(file(b"1020069,Duplicate lead\n1020070,Wrong\n").path()),
            Err(FileRefusal::NoHeader)
        );
        assert_eq!(inspect(file(b",,\n1,a\n").path()), Err(FileRefusal::NoHeader));
    }

    #[test]
    fn header_only_has_no_rows() {
        let (shape, rows) = rows(b"lead_id,reason\n");
        assert_eq!(shape.headers.len(), 2);
        assert!(rows.is_empty());
    }

    #[test]
    fn ragged_rows_and_bad_utf8_are_reported_per_cell() {
        let (_, rows) = rows(b"id,reason,extra\n1\n2,\xFF\xFE,x,y,z\n");
        assert_eq!(rows.len(), 2);
        assert!(rows[0].text(1).unwrap_err().contains("missing"));
        assert!(rows[1].text(1).unwrap_err().contains("UTF-8"));
        assert_eq!(rows[1].text(0).unwrap(), "2");
    }

    #[test]
    fn detects_an_unterminated_quote() {
        let (_, rows) = rows(b"id,reason\n1,fine\n2,\"never closed\n3,swallowed\n");
        assert_eq!(rows.len(), 2);
        assert!(!rows[0].unterminated_quote);
        assert!(rows[1].unterminated_quote);
    }

    #[test]
    fn missing_columns_are_named() {
        let (shape, _) = rows(b"Lead ID,Reason\n1,a\n");
        assert_eq!(shape.column(" Reason "), Ok(1));
        assert_eq!(shape.column("Email"), Err(FileRefusal::MissingColumn("Email".into())));
        assert_eq!(
            FileRefusal::MissingColumn("Email".into()).to_string(),
            "The column \"Email\" is not in the file's header row."
        );
    }
}
