#include "coordinator/training/local_launcher.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/util/fs.h"

extern char** environ;

namespace chorus::coordinator {

namespace fs = std::filesystem;

namespace {

Result<std::string> FindOnPath(const std::string& program) {
  if (program.find('/') != std::string::npos) {
    if (access(program.c_str(), X_OK) == 0) return program;
    return NotFound(program + ": not an executable file");
  }
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string candidate = dirs.substr(start, end - start) + "/" + program;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return NotFound(program + ": not found on PATH");
}

// Writes "text" to `path` with only async-signal-safe calls (used between fork and exec).
void WriteFileAfterFork(const char* tmp, const char* path, const char* text, size_t n) {
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  ssize_t ignored = write(fd, text, n);
  (void)ignored;
  fsync(fd);
  close(fd);
  rename(tmp, path);
}

// Formats a non-negative int into buf; returns the length (async-signal-safe).
size_t FormatInt(long value, char* buf) {
  char digits[24];
  size_t n = 0;
  bool negative = value < 0;
  unsigned long v = negative ? static_cast<unsigned long>(-value) : static_cast<unsigned long>(value);
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v);
  size_t len = 0;
  if (negative) buf[len++] = '-';
  while (n) buf[len++] = digits[--n];
  buf[len++] = '\n';
  return len;
}

void CloseFrom(int first) {
#ifdef SYS_close_range
  if (syscall(SYS_close_range, first, ~0U, 0) == 0) return;
#endif
  for (int fd = first; fd < 65536; ++fd) close(fd);
}

bool IsZombieOrGone(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;
  size_t paren = line.rfind(')');
  return paren == std::string::npos || paren + 2 >= line.size() || line[paren + 2] == 'Z';
}

}  // namespace

LocalLauncher::LocalLauncher(LocalLauncherOptions options) : options_(std::move(options)) {}

std::string LocalLauncher::PidFile(const LaunchSpec& spec) {
  return spec.run_dir + "/attempt-" + std::to_string(spec.attempt) + ".pid";
}

Result<std::string> LocalLauncher::Launch(const LaunchSpec& spec) {
  if (spec.command.empty()) return InvalidArgument("local launcher: empty command");
  std::string mpirun;
  if (spec.mpi) {
    ASSIGN_OR_RETURN(mpirun, FindOnPath(options_.mpirun));
  }

  // Everything the children need is built before fork: after it, only
  // async-signal-safe calls are allowed.
  std::vector<std::string> args;
  if (spec.mpi) {
    args = {mpirun, "-np", std::to_string(spec.ranks)};
    args.insert(args.end(), options_.mpirun_args.begin(), options_.mpirun_args.end());
    args.insert(args.end(), spec.command.begin(), spec.command.end());
  } else {
    if (spec.ranks != 1) return InvalidArgument("local launcher: a non-MPI launch runs exactly one process");
    ASSIGN_OR_RETURN(std::string program, FindOnPath(spec.command[0]));
    args = spec.command;
    args[0] = program;
  }
  std::map<std::string, std::string> extra = options_.env;
  for (const auto& [k, v] : spec.env) extra[k] = v;
  for (const auto& [k, v] : options_.run_as.Environment()) extra[k] = v;
  if (geteuid() == 0 && !options_.run_as.enabled()) {  // Open MPI refuses root unless told twice
    extra.emplace("OMPI_ALLOW_RUN_AS_ROOT", "1");
    extra.emplace("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
  }
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string entry(*e);
    if (!extra.count(entry.substr(0, entry.find('=')))) env.push_back(entry);
  }
  for (const auto& [k, v] : extra) env.push_back(k + "=" + v);
  std::vector<char*> c_args, c_env;
  for (auto& a : args) c_args.push_back(a.data());
  c_args.push_back(nullptr);
  for (auto& e : env) c_env.push_back(e.data());
  c_env.push_back(nullptr);
  const std::string pid_file = PidFile(spec), pid_tmp = pid_file + ".tmp";
  const std::string exit_tmp = spec.exit_file + ".tmp";
  std::error_code ec;
  fs::remove(spec.exit_file, ec);

  int log_fd = open(spec.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return IoError(spec.log_path + ": cannot open log: " + std::strerror(errno));
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (Status s = GiveTree(options_.run_as, spec.run_dir); !s.ok()) {
    close(log_fd);
    close(null_fd);
    return s;
  }
  const RunAs& run_as = options_.run_as;

  pid_t monitor = fork();
  if (monitor < 0) {
    close(log_fd);
    close(null_fd);
    return Unavailable(std::string("fork: ") + std::strerror(errno));
  }
  if (monitor == 0) {
    // Monitor: own session, stdio to the log, nothing else of the coordinator's open.
    setsid();
    dup2(null_fd, 0);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    CloseFrom(3);
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGPIPE}) sigaction(sig, &ignore, nullptr);
    char buf[32];
    WriteFileAfterFork(pid_tmp.c_str(), pid_file.c_str(), buf, FormatInt(getpid(), buf));
    pid_t child = fork();
    if (child == 0) {
      struct sigaction deflt {};
      deflt.sa_handler = SIG_DFL;
      for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGPIPE}) sigaction(sig, &deflt, nullptr);
      // Groups first, then the user: once the user is dropped, nothing else can be.
      if (run_as.enabled() && (setgroups(run_as.groups.size(), run_as.groups.data()) != 0 ||
                               setgid(run_as.gid) != 0 || setuid(run_as.uid) != 0 || setuid(0) == 0)) {
        const char msg[] = "chorus local launcher: cannot switch to the run_as user; not starting\n";
        ssize_t ignored = write(2, msg, sizeof msg - 1);
        (void)ignored;
        _exit(126);
      }
      if (chdir(spec.workdir.c_str()) != 0) {
        const char msg[] = "chorus local launcher: cannot enter the job's working directory\n";
        ssize_t ignored = write(2, msg, sizeof msg - 1);
        (void)ignored;
        _exit(127);
      }
      execve(c_args[0], c_args.data(), c_env.data());
      const char msg[] = "chorus local launcher: cannot execute the command\n";
      ssize_t ignored = write(2, msg, sizeof msg - 1);
      (void)ignored;
      _exit(127);
    }
    int status = 0, code = 127;
    if (child > 0) {
      while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
      }
      code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    WriteFileAfterFork(exit_tmp.c_str(), spec.exit_file.c_str(), buf, FormatInt(code, buf));
    _exit(0);
  }
  close(log_fd);
  close(null_fd);
  return std::to_string(monitor);
}

Result<std::string> LocalLauncher::Find(const LaunchSpec& spec) {
  std::ifstream in(PidFile(spec));
  long pid = 0;
  if (in >> pid && pid > 0) return std::to_string(pid);
  return std::string();
}

RunStatus LocalLauncher::Poll(const std::string& handle, const std::string& exit_file) {
  pid_t pid = static_cast<pid_t>(std::atol(handle.c_str()));
  if (pid <= 0) return {RunState::kLost, 0, "invalid local handle '" + handle + "'"};
  int status = 0;
  bool reaped = waitpid(pid, &status, WNOHANG) == pid;  // only when we are its parent
  if (auto code = ReadExitFile(exit_file)) return {RunState::kExited, *code, ""};
  if (!reaped && !IsZombieOrGone(pid)) return {RunState::kRunning, 0, ""};
  if (auto code = ReadExitFile(exit_file)) return {RunState::kExited, *code, ""};
  return {RunState::kLost, 0, "monitor process " + handle + " ended without recording an exit status"};
}

Status LocalLauncher::Terminate(const std::string& handle, bool force) {
  pid_t monitor = static_cast<pid_t>(std::atol(handle.c_str()));
  if (monitor <= 0) return InvalidArgument("invalid local handle '" + handle + "'");
  std::vector<SessionMember> members = SessionMembers(monitor);
  std::vector<int> targets;
  for (const auto& m : members) {
    if (m.pid == monitor) continue;
    if (force || m.parent != monitor) targets.push_back(m.pid);  // soft: ranks, not mpirun
  }
  if (targets.empty())  // mpirun has not started its ranks yet
    for (const auto& m : members)
      if (m.pid != monitor) targets.push_back(m.pid);
  for (int pid : targets) kill(pid, force ? SIGKILL : SIGTERM);
  return Status::Ok();
}

std::vector<SessionMember> SessionMembers(int sid) {
  std::vector<SessionMember> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "stat");
    std::string line;
    if (!std::getline(in, line)) continue;
    size_t paren = line.rfind(')');
    if (paren == std::string::npos) continue;
    // After "pid (comm) ": state ppid pgrp session ...
    std::istringstream rest(line.substr(paren + 2));
    char state = 0;
    long ppid = 0, pgrp = 0, session = 0;
    if (!(rest >> state >> ppid >> pgrp >> session)) continue;
    if (session == sid && state != 'Z') out.push_back({std::stoi(name), static_cast<int>(ppid)});
  }
  return out;
}

}  // namespace chorus::coordinator
