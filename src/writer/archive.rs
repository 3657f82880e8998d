//! The `docker save`-format archive that `POST /images/load` takes: `manifest.json`, the config
//! and the layer, written as a stream (the layer is copied from its spool file in chunks).

use super::config::ImageConfig;
use bytes::Bytes;
use futures_util::Stream;
use std::fs::File;
use std::io::{self, Seek, Write};
use tokio::sync::mpsc;

/// Writes the load archive for `config` and the spooled `layer` (its `diff_id` names it).
/// The manifest carries no tag: the image is tagged only after it passed.
pub fn write(out: impl Write, config: &ImageConfig, diff_id: &str, layer: &mut File) -> io::Result<()> {
    let config_name = format!("{}.json", config.id.trim_start_matches("sha256:"));
    let layer_name = format!("{}/layer.tar", diff_id.trim_start_matches("sha256:"));
    let manifest = serde_json::to_vec(&serde_json::json!([{
        "Config": config_name,
        "RepoTags": null,
        "Layers": [layer_name],
    }]))?;
    let mut builder = tar::Builder::new(out);
    append_file(&mut builder, &config_name, config.bytes.len() as u64, config.bytes.as_slice())?;
    let layer_size = layer.seek(io::SeekFrom::End(0))?;
    layer.seek(io::SeekFrom::Start(0))?;
    append_file(&mut builder, &layer_name, layer_size, layer)?;
    append_file(&mut builder, "manifest.json", manifest.len() as u64, manifest.as_slice())?;
    builder.into_inner()?.flush()
}

/// Appends a regular file entry with fixed metadata (mode 0644, owner 0, mtime 0), its
/// `size` bytes copied from `data` in chunks.
pub(crate) fn append_file<W: Write>(builder: &mut tar::Builder<W>, name: &str, size: u64, data: impl io::Read) -> io::Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_size(size);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    builder.append_data(&mut header, name, data)
}

/// A blocking `Read` over chunks an async task receives from the engine: the other direction
/// of [`ChannelWriter`]. One channel hand-off per chunk, none per small read.
pub struct ChunkReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

/// Pumps `stream` into a [`ChunkReader`] for a blocking thread, at most `depth` chunks ahead.
pub fn chunk_reader<S, E>(stream: S, depth: usize) -> ChunkReader
where
    S: futures_util::Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    use futures_util::StreamExt;
    let (tx, rx) = mpsc::channel(depth);
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(item) = stream.next().await {
            let item = item.map_err(|e| io::Error::other(e.to_string()));
            if tx.send(item).await.is_err() {
                return;
            }
        }
    });
    ChunkReader { rx, current: Bytes::new() }
}

impl io::Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// A `Write` whose chunks become a stream for the engine, so the archive is never held in
/// memory: at most `depth` chunks of 256 KiB are in flight.
pub struct ChannelWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

const CHUNK: usize = 256 * 1024;

/// A writer for a blocking thread and the stream it feeds.
pub fn channel(depth: usize) -> (ChannelWriter, impl Stream<Item = io::Result<Bytes>> + Send + 'static) {
    let (tx, rx) = mpsc::channel(depth);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    (ChannelWriter { tx, buf: Vec::with_capacity(CHUNK) }, stream)
}

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the engine stopped reading"))
    }

    /// Ends the stream with an error (the engine sees the upload fail).
    pub fn fail(self, error: io::Error) {
        let _ = self.tx.blocking_send(Err(error));
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}
