//! Private servers a test starts for itself and removes on drop: a Postgres cluster of its own
//! (a product database on another server) and a PgBouncer in front of the machine's Postgres.
//! Both take a free port on 127.0.0.1 and a temporary folder, and drop privileges to the
//! `postgres` user when the tests run as root, since neither server runs as root.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use uuid::Uuid;

/// A folder of its own under the system's temporary folder, readable by the `postgres` user.
fn scratch(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("scimtest_{what}_{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    chown_to_postgres(&dir);
    dir
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

fn chown_to_postgres(path: &Path) {
    if running_as_root() {
        let ok = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(path)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "chown {} to postgres", path.display());
    }
}

/// A port nobody listens on now (the kernel's pick for port 0).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

fn wait_for_port(port: u16, what: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on {port}: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A shell command line, run as `postgres` when the tests run as root.
fn as_postgres(cmd: &str) -> Command {
    if running_as_root() {
        let mut c = Command::new("su");
        c.args(["postgres", "-s", "/bin/sh", "-c", cmd]);
        c
    } else {
        let mut c = Command::new("sh");
        c.args(["-c", cmd]);
        c
    }
}

/// The newest installed PostgreSQL server binaries (Debian keeps them out of PATH).
fn pg_bin() -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("/usr/lib/postgresql: the PostgreSQL server package")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    dirs.sort();
    dirs.pop().expect("initdb under /usr/lib/postgresql/*/bin")
}

/// A Postgres cluster of its own (`initdb`, trust auth, user `postgres`), stopped and deleted
/// on drop.
pub struct PrivatePostgres {
    dir: PathBuf,
    pub port: u16,
}

impl PrivatePostgres {
    pub fn start() -> Self {
        let dir = scratch("pg");
        let port = free_port();
        let bin = pg_bin();
        let data = dir.join("data");
        let ok = as_postgres(&format!(
            "{}/initdb -D {} -A trust -U postgres >/dev/null",
            bin.display(),
            data.display()
        ))
        .status()
        .is_ok_and(|s| s.success());
        assert!(ok, "initdb in {}", dir.display());
        let log = dir.join("log");
        let ok = as_postgres(&format!(
            "{}/pg_ctl -D {} -l {} -w -o '-p {port} -k {} -c listen_addresses=127.0.0.1' start >/dev/null",
            bin.display(),
            data.display(),
            log.display(),
            dir.display()
        ))
        .status()
        .is_ok_and(|s| s.success());
        assert!(
            ok,
            "pg_ctl start: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        Self { dir, port }
    }

    /// `postgres://postgres@127.0.0.1:<port>/<db>`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = as_postgres(&format!(
            "{}/pg_ctl -D {} -m immediate -w stop >/dev/null 2>&1",
            pg_bin().display(),
            self.dir.join("data").display()
        ))
        .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The `pgbouncer` to run: `SCIM_PGBOUNCER`, else the one `scripts/lib/services.sh` builds into
/// target/tools, else the one on PATH.
pub fn pgbouncer_binary() -> PathBuf {
    if let Ok(p) = std::env::var("SCIM_PGBOUNCER") {
        return p.into();
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace");
    let built = workspace.join("target/tools/pgbouncer/bin/pgbouncer");
    if built.exists() {
        return built;
    }
    "pgbouncer".into()
}

/// One `[databases]` entry of a [`PgBouncer`]: the name clients connect to, the database it
/// stands for on 127.0.0.1:5432, and what each new server connection runs first.
pub struct Alias<'a> {
    pub name: &'a str,
    pub dbname: &'a str,
    pub connect_query: Option<&'a str>,
}

/// A PgBouncer in transaction pooling mode in front of the machine's Postgres, on a port of its
/// own, with `pool_size` server connections per database entry (few, so that clients share
/// them as they would in production). Killed and deleted on drop.
pub struct PgBouncer {
    child: Child,
    dir: PathBuf,
    pub port: u16,
    pub log_path: PathBuf,
}

impl PgBouncer {
    /// `max_prepared_statements`: 0 turns PgBouncer's tracking of prepared statements off
    /// (what every PgBouncer before 1.21 does).
    pub fn start(aliases: &[Alias<'_>], pool_size: u32, max_prepared_statements: u32) -> Self {
        let dir = scratch("pgbouncer");
        let port = free_port();
        let mut databases = String::new();
        for a in aliases {
            databases.push_str(&format!(
                "{} = host=127.0.0.1 port=5432 dbname={}",
                a.name, a.dbname
            ));
            if let Some(q) = a.connect_query {
                databases.push_str(&format!(" connect_query='{q}'"));
            }
            databases.push('\n');
        }
        let users = dir.join("users.txt");
        std::fs::write(&users, "\"postgres\" \"\"\n").expect("users file");
        let ini = dir.join("pgbouncer.ini");
        std::fs::write(
            &ini,
            format!(
                "[databases]\n{databases}\n[pgbouncer]\n\
                 listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
                 auth_type = trust\nauth_file = {users}\n\
                 pool_mode = transaction\ndefault_pool_size = {pool_size}\n\
                 max_prepared_statements = {max_prepared_statements}\n\
                 max_client_conn = 500\n",
                users = users.display()
            ),
        )
        .expect("pgbouncer.ini");
        chown_to_postgres(&dir);
        let log_path = dir.join("pgbouncer.log");
        let log = std::fs::File::create(&log_path).expect("log file");
        let mut cmd = Command::new(pgbouncer_binary());
        if running_as_root() {
            cmd.args(["-u", "postgres"]);
        }
        let child = cmd
            .arg(&ini)
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start pgbouncer (scripts/test builds one: scripts/lib/services.sh)");
        wait_for_port(port, "pgbouncer", &log_path);
        Self {
            child,
            dir,
            port,
            log_path,
        }
    }

    /// `postgres://postgres@127.0.0.1:<port>/<alias>`.
    pub fn url(&self, alias: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{alias}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
