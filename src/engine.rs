//! The Docker Engine, through its API (bollard): every call slim makes, with errors turned into
//! messages a user can act on. Nothing else in slim talks to Docker.

use crate::error::{Error, Result};
use bollard::container::{AttachContainerResults, LogOutput};
use bollard::models::{ContainerCreateBody, ImageInspect};
use bollard::query_parameters as q;
use bollard::Docker;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use std::collections::HashMap;

/// The label every container slim creates carries: `slim.run=<run id>`.
pub const RUN_LABEL: &str = "slim.run";

/// A connected engine.
#[derive(Clone)]
pub struct Engine {
    docker: Docker,
}

fn engine_err(what: impl std::fmt::Display) -> impl FnOnce(bollard::errors::Error) -> Error {
    move |e| Error::Engine(format!("{what}: {e}"))
}

fn is_not_found(e: &bollard::errors::Error) -> bool {
    matches!(e, bollard::errors::Error::DockerResponseServerError { status_code: 404, .. })
}

impl Engine {
    /// Connects to the engine of `DOCKER_HOST` (or the local socket) and negotiates the API
    /// version (Debian's Docker 20.10 speaks 1.41 at most).
    pub async fn connect() -> Result<Self> {
        let hint = || {
            let host = std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
            format!("cannot reach the Docker engine at {host}; is dockerd running and may this user use it?")
        };
        let docker = Docker::connect_with_local_defaults().map_err(|e| Error::Engine(format!("{}: {e}", hint())))?;
        let docker = docker.negotiate_version().await.map_err(|e| Error::Engine(format!("{}: {e}", hint())))?;
        docker.ping().await.map_err(|e| Error::Engine(format!("{}: {e}", hint())))?;
        Ok(Engine { docker })
    }

    /// Inspects a local image; a missing one is an input error that names it.
    pub async fn inspect_image(&self, name: &str) -> Result<ImageInspect> {
        self.docker.inspect_image(name).await.map_err(|e| {
            if is_not_found(&e) {
                Error::Input(format!("image {name:?} not found in the local engine (slim never pulls: build, load or pull it first)"))
            } else {
                Error::Engine(format!("inspecting image {name}: {e}"))
            }
        })
    }

    /// Creates a container and returns its ID.
    pub async fn create(&self, body: ContainerCreateBody) -> Result<String> {
        let image = body.image.clone().unwrap_or_default();
        let created = self
            .docker
            .create_container(None::<q::CreateContainerOptions>, body)
            .await
            .map_err(engine_err(format_args!("creating a container of {image}")))?;
        Ok(created.id)
    }

    /// Extracts the tar archive `tar` into the container at `path` (the archive API; no mount).
    pub async fn upload(&self, id: &str, path: &str, tar: Vec<u8>) -> Result<()> {
        let options = q::UploadToContainerOptions { path: path.to_owned(), ..Default::default() };
        self.docker
            .upload_to_container(id, Some(options), bollard::body_full(Bytes::from(tar)))
            .await
            .map_err(engine_err("uploading the sensor into the analysis container"))
    }

    /// Attaches to stdout and stderr (before start, so no line is missed).
    pub async fn attach(&self, id: &str) -> Result<AttachContainerResults> {
        let options = q::AttachContainerOptions { stream: true, stdout: true, stderr: true, logs: true, ..Default::default() };
        self.docker.attach_container(id, Some(options)).await.map_err(engine_err("attaching to the container"))
    }

    /// Starts a created container.
    pub async fn start(&self, id: &str) -> Result<()> {
        self.docker.start_container(id, None::<q::StartContainerOptions>).await.map_err(engine_err("starting the container"))
    }

    /// Sends `signal` (a name or number) to the container's PID 1.
    pub async fn kill(&self, id: &str, signal: &str) -> Result<()> {
        let options = q::KillContainerOptions { signal: signal.to_owned() };
        self.docker.kill_container(id, Some(options)).await.map_err(engine_err("signalling the container"))
    }

    /// Waits for the container to stop; returns its exit code.
    pub async fn wait(&self, id: &str) -> Result<i64> {
        let mut stream = self.docker.wait_container(id, None::<q::WaitContainerOptions>);
        match stream.next().await {
            Some(Ok(r)) => Ok(r.status_code),
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
            Some(Err(e)) => Err(Error::Engine(format!("waiting for the container: {e}"))),
            None => Err(Error::Engine("waiting for the container: no answer".into())),
        }
    }

    /// Runs `cmd` in a running container as `user`; returns its exit code and its output's
    /// last lines.
    pub async fn exec(&self, id: &str, cmd: Vec<String>, user: &str) -> Result<(i64, String)> {
        use bollard::exec::{StartExecOptions, StartExecResults};
        let what = cmd.join(" ");
        let config = bollard::models::ExecConfig {
            cmd: Some(cmd),
            user: Some(user.to_owned()),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            ..Default::default()
        };
        let created = self.docker.create_exec(id, config).await.map_err(engine_err(format_args!("exec {what}")))?;
        let started = self
            .docker
            .start_exec(&created.id, Some(StartExecOptions { detach: false, tty: false, output_capacity: None }))
            .await
            .map_err(engine_err(format_args!("exec {what}")))?;
        let mut output = String::new();
        if let StartExecResults::Attached { output: mut stream, .. } = started {
            while let Some(Ok(chunk)) = stream.next().await {
                output.push_str(&chunk.to_string());
                if output.len() > 64 * 1024 {
                    output.drain(..output.len() - 16 * 1024);
                }
            }
        }
        let inspect = self.docker.inspect_exec(&created.id).await.map_err(engine_err(format_args!("exec {what}")))?;
        let tail: Vec<&str> = output.lines().rev().take(10).collect();
        Ok((inspect.exit_code.unwrap_or(-1), tail.into_iter().rev().collect::<Vec<_>>().join("\n")))
    }

    /// Published host ports of a running container: container TCP port -> (host ip, host port).
    pub async fn published_ports(&self, id: &str) -> Result<HashMap<u16, (String, u16)>> {
        let inspect = self
            .docker
            .inspect_container(id, None::<q::InspectContainerOptions>)
            .await
            .map_err(engine_err("inspecting the analysis container"))?;
        let mut out = HashMap::new();
        let ports = inspect.network_settings.and_then(|n| n.ports).unwrap_or_default();
        for (key, bindings) in ports {
            let Some(port) = key.strip_suffix("/tcp").and_then(|p| p.parse::<u16>().ok()) else { continue };
            let first = bindings.unwrap_or_default().into_iter().find_map(|b| {
                let host_port = b.host_port?.parse::<u16>().ok()?;
                Some((b.host_ip.filter(|ip| !ip.is_empty()).unwrap_or_else(|| "127.0.0.1".into()), host_port))
            });
            if let Some(binding) = first {
                out.insert(port, binding);
            }
        }
        Ok(out)
    }

    /// Downloads one file from a (possibly stopped) container.
    pub async fn read_file(&self, id: &str, path: &str) -> Result<Vec<u8>> {
        let options = q::DownloadFromContainerOptions { path: path.to_owned() };
        let mut stream = self.docker.download_from_container(id, Some(options));
        let mut tar = Vec::new();
        while let Some(chunk) = stream.next().await {
            tar.extend_from_slice(&chunk.map_err(engine_err(format_args!("downloading {path}")))?);
        }
        let mut archive = tar::Archive::new(tar.as_slice());
        let mut entries = archive.entries().map_err(|e| Error::Engine(format!("reading {path}: {e}")))?;
        let mut entry = entries
            .next()
            .ok_or_else(|| Error::Engine(format!("{path}: empty archive")))?
            .map_err(|e| Error::Engine(format!("reading {path}: {e}")))?;
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).map_err(|e| Error::Engine(format!("reading {path}: {e}")))?;
        Ok(data)
    }

    /// The container's filesystem as a tar stream.
    pub fn export(&self, id: &str) -> impl Stream<Item = std::result::Result<Bytes, bollard::errors::Error>> + Send + 'static {
        self.docker.export_container(id)
    }

    /// Streams a `docker save`-format archive into `POST /images/load`.
    pub async fn load<S>(&self, archive: S) -> Result<()>
    where
        S: Stream<Item = std::result::Result<Bytes, std::io::Error>> + Send + 'static,
    {
        let options = q::ImportImageOptions { quiet: true, ..Default::default() };
        let mut progress = self.docker.import_image_stream(options, archive, None);
        while let Some(item) = progress.next().await {
            let info = item.map_err(engine_err("loading the slim image"))?;
            if let Some(detail) = info.error_detail {
                return Err(Error::Engine(format!("loading the slim image: {}", detail.message.unwrap_or_default())));
            }
        }
        Ok(())
    }

    /// Tags image `id` as `repo:tag`.
    pub async fn tag(&self, id: &str, repo: &str, tag: &str) -> Result<()> {
        let options = q::TagImageOptions { repo: Some(repo.to_owned()), tag: Some(tag.to_owned()) };
        self.docker.tag_image(id, Some(options)).await.map_err(engine_err(format_args!("tagging {repo}:{tag}")))
    }

    /// Removes an image by ID (only untagged images slim made itself).
    pub async fn remove_image(&self, id: &str) -> Result<()> {
        let options = q::RemoveImageOptions { force: false, noprune: false, ..Default::default() };
        match self.docker.remove_image(id, Some(options), None).await {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(Error::Engine(format!("removing image {id}: {e}"))),
        }
    }

    /// True when an image with this ID or name exists.
    pub async fn image_exists(&self, name: &str) -> Result<bool> {
        match self.docker.inspect_image(name).await {
            Ok(_) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(Error::Engine(format!("inspecting image {name}: {e}"))),
        }
    }

    /// Removes every container (and its anonymous volumes) labelled with `run`.
    pub async fn remove_run(&self, run: &str) -> Result<usize> {
        let filters = HashMap::from([("label".to_owned(), vec![format!("{RUN_LABEL}={run}")])]);
        let options = q::ListContainersOptions { all: true, filters: Some(filters), ..Default::default() };
        let containers = self.docker.list_containers(Some(options)).await.map_err(engine_err("listing this run's containers"))?;
        let mut removed = 0;
        for id in containers.into_iter().filter_map(|c| c.id) {
            let options = q::RemoveContainerOptions { v: true, force: true, link: false };
            match self.docker.remove_container(&id, Some(options)).await {
                Ok(()) => removed += 1,
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(Error::Engine(format!("removing container {id}: {e}"))),
            }
        }
        Ok(removed)
    }
}

/// Splits attach output into whole lines, per stream.
#[derive(Default)]
pub struct LineSplitter {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl LineSplitter {
    /// Feeds one chunk; returns the complete lines it finished, with `true` for stderr.
    pub fn feed(&mut self, chunk: LogOutput) -> Vec<(bool, String)> {
        let (buf, is_err, message) = match chunk {
            LogOutput::StdErr { message } => (&mut self.stderr, true, message),
            LogOutput::StdOut { message } | LogOutput::Console { message } => (&mut self.stdout, false, message),
            LogOutput::StdIn { .. } => return Vec::new(),
        };
        buf.extend_from_slice(&message);
        let mut lines = Vec::new();
        while let Some(end) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=end).collect();
            lines.push((is_err, String::from_utf8_lossy(&line).into_owned()));
        }
        lines
    }
}
