// pm2 process file: one fork-mode uvicorn (or gunicorn) per port, all serving the same main:app.
//   API_PORTS  comma-separated ports (default 8001,8002); each becomes an app named api-<port>
//   API_HOST   bind address (default 127.0.0.1)
//   API_RUNNER  uvicorn (default) or gunicorn: `gunicorn -c gunicorn.conf.py main:app` with uvicorn workers
//   API_WORKERS  worker processes per port (default 1 for uvicorn, 2 for gunicorn); with uvicorn, 2 or more enables
//                scripts/reload.sh's zero-drop reload (gunicorn always has it)
//   API_FORWARDED_ALLOW_IPS  proxies trusted to set X-Forwarded-For/-Proto (default 127.0.0.1; docs/deployment.md)
//   UVICORN_GRACEFUL_SECONDS  time in-flight requests get on stop/restart (default 3, kept below kill_timeout)
const path = require("path");

const root = __dirname;
const venv = process.env.VIRTUAL_ENV_DIR || path.join(root, ".venv");
const host = process.env.API_HOST || "127.0.0.1";
const graceful = Number(process.env.UVICORN_GRACEFUL_SECONDS || 3);
const forwardedAllowIps = process.env.API_FORWARDED_ALLOW_IPS || "127.0.0.1";
const metrics = ["1", "true", "yes"].includes(String(process.env.METRICS_ENABLED || "").toLowerCase());
const runner = process.env.API_RUNNER || "uvicorn";
if (!["uvicorn", "gunicorn"].includes(runner)) throw new Error(`API_RUNNER: "${runner}" is not uvicorn or gunicorn`);
const workers = Number(process.env.API_WORKERS || (runner === "gunicorn" ? 2 : 1));
if (!Number.isInteger(workers) || workers < 1) throw new Error(`API_WORKERS: "${process.env.API_WORKERS}" is not a count`);
const ports = (process.env.API_PORTS || "8001,8002")
  .split(",")
  .map((p) => p.trim())
  .filter(Boolean);

for (const port of ports) {
  if (!/^\d+$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
    throw new Error(`API_PORTS: "${port}" is not a port number`);
  }
}

function uvicorn(port) {
  return {
    // uvicorn is a Python script without a .py extension: "none" stops pm2 from running it with node.
    script: path.join(venv, "bin", "uvicorn"),
    interpreter: "none",
    args: [
      "main:app",
      "--host", host,
      "--port", port,
      "--no-access-log", // the app writes its own access line
      "--http", "core.serving:DrainingHttpToolsProtocol", // finishes just-accepted requests on shutdown
      "--timeout-graceful-shutdown", String(graceful),
      "--forwarded-allow-ips", forwardedAllowIps,
      // With --workers uvicorn's supervisor holds the socket and replaces workers one by one on SIGHUP. It gives a
      // new worker 5 s to be ready by default, and a loaded 2-core host can take longer: then it aborts the reload.
      ...(workers > 1 ? ["--workers", String(workers), "--timeout-worker-healthcheck", "30"] : []),
    ],
    env: {
      APP_PORT: port,
      APP_INSTANCE: `api-${port}`,
    },
  };
}

// gunicorn.conf.py reads the rest (worker class, timeouts, logging, control socket) from the same env.
function gunicorn(port) {
  return {
    script: path.join(venv, "bin", "gunicorn"),
    interpreter: "none",
    args: ["-c", "gunicorn.conf.py", "main:app"],
    env: {
      APP_PORT: port,
      APP_INSTANCE: `api-${port}`,
      GUNICORN_BIND: `${host.includes(":") ? `[${host}]` : host}:${port}`,
      WEB_CONCURRENCY: String(workers),
      FORWARDED_ALLOW_IPS: forwardedAllowIps, // gunicorn's own variable, passed on to the uvicorn workers
    },
  };
}

// Several workers behind one port write their metrics to one directory, summed by whichever worker is scraped.
function metricsEnv(port) {
  const multiprocess = metrics && (runner === "gunicorn" || workers > 1);
  return multiprocess ? { PROMETHEUS_MULTIPROC_DIR: path.join(root, "data", "metrics", `api-${port}`) } : {};
}

module.exports = {
  apps: ports.map((port) => {
    const app = runner === "gunicorn" ? gunicorn(port) : uvicorn(port);
    return { ...app, env: { ...app.env, ...metricsEnv(port) }, ...common(port) };
  }),
};

function common(port) {
  return {
    name: `api-${port}`,
    cwd: root,
    exec_mode: "fork",
    instances: 1,
    // pm2 prefixes every plain log line with a timestamp; JSON lines carry their own "time" field.
    time: process.env.LOG_FORMAT !== "json",
    kill_timeout: (graceful + 2) * 1000, // SIGKILL only after uvicorn's graceful shutdown had its time
    autorestart: true,
    max_restarts: 10, // crashes within min_uptime count; then pm2 marks the app errored
    min_uptime: "10s",
    max_memory_restart: process.env.API_MAX_MEMORY || "512M",
    treekill: true,
  };
}
