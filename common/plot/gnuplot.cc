#include "common/plot/gnuplot.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <sstream>

#include "common/util/fs.h"
#include "common/util/subprocess.h"

namespace chorus::plot {
namespace {

namespace fs = std::filesystem;

// A gnuplot double-quoted string.
std::string Quote(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

std::string Number(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

struct Probe {
  bool runs = false;
  bool pngcairo = false;
};

// Whether the program runs, and has the cairo PNG terminal (cached).
Probe ProbeGnuplot(const PlotOptions& options) {
  static std::mutex mu;
  static std::map<std::string, Probe> cache;
  std::lock_guard<std::mutex> lock(mu);
  if (auto it = cache.find(options.gnuplot); it != cache.end()) return it->second;
  Probe p;
  CommandOptions co;
  co.timeout = std::chrono::milliseconds(10000);
  Result<CommandResult> version = RunCommand({options.gnuplot, "--version"}, co);
  p.runs = version.ok() && version->exit_code == 0;
  if (p.runs) {
    Result<CommandResult> cairo = RunCommand({options.gnuplot, "-e", "set terminal pngcairo"}, co);
    p.pngcairo = cairo.ok() && cairo->exit_code == 0;
  }
  cache[options.gnuplot] = p;
  return p;
}

Result<std::string> Terminal(const PlotOptions& options, const Probe& probe) {
  RETURN_IF_ERROR(CheckFormat(options.format));
  const std::string size = " size " + std::to_string(options.width) + "," + std::to_string(options.height);
  if (options.format == "svg") return "set terminal svg" + size + " noenhanced background rgb 'white' font 'sans,11'";
  if (probe.pngcairo) return "set terminal pngcairo" + size + " noenhanced font 'sans,10'";
  return "set terminal png" + size + " noenhanced";
}

// The terminal and output lines of a script; FailedPrecondition without gnuplot.
Result<std::string> Preamble(const std::string& image, const PlotOptions& options) {
  const Probe probe = ProbeGnuplot(options);
  if (!probe.runs) {
    return FailedPrecondition("cannot draw " + image + ": gnuplot is not installed (program '" + options.gnuplot +
                              "' not found or not working; on Debian/Ubuntu: apt-get install gnuplot-nox)");
  }
  ASSIGN_OR_RETURN(std::string terminal, Terminal(options, probe));
  return terminal + "\nset output " + Quote(fs::absolute(image).string()) + "\nset encoding utf8\n";
}

Result<std::string> Render(const std::string& script, const std::string& base, const std::string& image,
                           const PlotOptions& options) {
  const std::string script_path = base + ".gp";
  const fs::path parent = fs::path(base).parent_path();
  if (!parent.empty()) RETURN_IF_ERROR(MakeDirs(parent.string()));
  RETURN_IF_ERROR(AtomicWriteFile(script_path, script));
  CommandOptions co;
  co.timeout = options.timeout;
  Result<CommandResult> run = RunCommand({options.gnuplot, script_path}, co);
  if (!run.ok()) return run.status().WithContext("gnuplot " + script_path);
  std::error_code ec;
  if (run->exit_code != 0 || !fs::is_regular_file(image, ec) || fs::file_size(image, ec) == 0) {
    std::string err = run->err.empty() ? run->out : run->err;
    while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
    return Internal("gnuplot " + script_path + " failed (exit " + std::to_string(run->exit_code) +
                    ") and did not write " + image + (err.empty() ? "" : ": " + err));
  }
  return image;
}

// Axis settings for one axis ("x" or "y").
std::string AxisCommands(const std::string& axis, Scale scale, const std::optional<std::pair<double, double>>& range) {
  std::ostringstream s;
  s << "unset logscale " << axis << "\n";
  if (scale == Scale::kLog) s << "set logscale " << axis << "\n";
  if (scale == Scale::kProbit) {
    s << "set " << axis << "tics (";
    const double tics[] = {0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95, 0.99};
    for (size_t i = 0; i < sizeof tics / sizeof tics[0]; ++i) {
      char label[32];
      std::snprintf(label, sizeof label, "%g%%%%", 100 * tics[i]);  // a tic label is a format: %% is one %
      s << (i ? ", " : "") << Quote(label) << " probit(" << Number(tics[i]) << ")";
    }
    s << ")\n";
    const auto r = range.value_or(std::make_pair(0.001, 0.6));
    s << "set " << axis << "range [probit(" << Number(r.first) << "):probit(" << Number(r.second) << ")]\n";
  } else {
    s << "set " << axis << "tics autofreq\n";
    if (range) s << "set " << axis << "range [" << Number(range->first) << ":" << Number(range->second) << "]\n";
    else s << "set autoscale " << axis << "\n";
  }
  return s.str();
}

std::string Coordinate(Scale scale, int column) {
  const std::string c = "$" + std::to_string(column);
  return scale == Scale::kProbit ? "(probit(" + c + "))" : "(" + c + ")";
}

}  // namespace

Status CheckFormat(const std::string& format) {
  if (format == "png" || format == "svg") return Status::Ok();
  return InvalidArgument("plot format must be png or svg, got '" + format + "'");
}

bool GnuplotAvailable(const PlotOptions& options) { return ProbeGnuplot(options).runs; }

Result<std::string> DrawPanels(const std::vector<Panel>& panels, int rows, int columns, const std::string& base,
                               const PlotOptions& options) {
  if (panels.empty() || rows < 1 || columns < 1 || static_cast<int>(panels.size()) > rows * columns)
    return InvalidArgument("a chart needs 1 to rows x columns panels");
  const std::string image = base + "." + options.format;
  ASSIGN_OR_RETURN(std::string preamble, Preamble(image, options));
  std::ostringstream s;
  s << "# Drawn by Chorus (common/plot/gnuplot.h): gnuplot " << fs::path(base).filename().string() << ".gp\n"
    << preamble << "set grid lc rgb '#dddddd'\nset border lc rgb '#555555'\n"
    << "lo = 1e-4\nprobit(v) = invnorm(v < lo ? lo : (v > 1 - lo ? 1 - lo : v))\n"
    << "$nothing << EOD\n0.5 0.5\nEOD\n";
  // The data, one datablock per series.
  for (size_t p = 0; p < panels.size(); ++p) {
    for (size_t i = 0; i < panels[p].series.size(); ++i) {
      const Series& series = panels[p].series[i];
      s << "$d" << p << "_" << i << " << EOD\n";
      for (size_t k = 0; k < std::min(series.x.size(), series.y.size()); ++k)
        if (std::isfinite(series.x[k]) && std::isfinite(series.y[k]))
          s << Number(series.x[k]) << " " << Number(series.y[k]) << "\n";
      s << "EOD\n";
    }
  }
  if (panels.size() > 1) s << "set multiplot layout " << rows << "," << columns << "\n";
  for (size_t p = 0; p < panels.size(); ++p) {
    const Panel& panel = panels[p];
    s << "set title " << Quote(panel.title) << "\nset xlabel " << Quote(panel.xlabel) << "\nset ylabel "
      << Quote(panel.ylabel) << "\nset key " << panel.key << " noenhanced\n"
      << (panel.square ? "set size square\n" : "set size nosquare\n")
      << AxisCommands("x", panel.xscale, panel.xrange) << AxisCommands("y", panel.yscale, panel.yrange);
    std::vector<std::string> plots;
    for (size_t i = 0; i < panel.series.size(); ++i) {
      const Series& series = panel.series[i];
      bool any = false;
      for (size_t k = 0; k < std::min(series.x.size(), series.y.size()); ++k)
        any = any || (std::isfinite(series.x[k]) && std::isfinite(series.y[k]));
      if (!any) continue;  // gnuplot refuses an empty datablock
      plots.push_back("$d" + std::to_string(p) + "_" + std::to_string(i) + " using " +
                      Coordinate(panel.xscale, 1) + ":" + Coordinate(panel.yscale, 2) + " with " + series.style +
                      " lw 2" + (series.dashed ? " dt 2" : "") + " title " + Quote(series.title));
    }
    if (panel.diagonal) plots.push_back("x with lines lc rgb '#999999' dt 3 title " + Quote(
                                            panel.xscale == Scale::kProbit ? "EER line" : "chance"));
    s << "unset label\n";
    if (plots.empty()) {
      s << "set label 1 " << Quote("no data yet") << " at graph 0.5, 0.5 center\n";
      plots.push_back("$nothing using 1:2 with dots lc rgb 'white' notitle");
    }
    s << "plot ";
    for (size_t i = 0; i < plots.size(); ++i) s << (i ? ", \\\n     " : "") << plots[i];
    s << "\n";
  }
  if (panels.size() > 1) s << "unset multiplot\n";
  return Render(s.str(), base, image, options);
}

Result<std::string> DrawMatrix(const MatrixChart& chart, const std::string& base, const PlotOptions& options) {
  const size_t rows = chart.values.size();
  const size_t columns = rows ? chart.values[0].size() : 0;
  if (rows == 0 || columns == 0) return InvalidArgument("a matrix chart needs at least one cell");
  for (const auto& row : chart.values)
    if (row.size() != columns) return InvalidArgument("a matrix chart's rows differ in length");
  const std::string image = base + "." + options.format;
  ASSIGN_OR_RETURN(std::string preamble, Preamble(image, options));
  std::ostringstream s;
  s << "# Drawn by Chorus (common/plot/gnuplot.h): gnuplot " << fs::path(base).filename().string() << ".gp\n"
    << preamble << "$m << EOD\n";
  double top = 0;
  for (const auto& row : chart.values) {
    for (size_t c = 0; c < columns; ++c) {
      s << (c ? " " : "") << Number(std::isfinite(row[c]) ? row[c] : 0.0);
      if (std::isfinite(row[c])) top = std::max(top, row[c]);
    }
    s << "\n";
  }
  s << "EOD\n";
  auto tics = [&](const std::string& axis, const std::vector<std::string>& labels, size_t n) {
    s << "set " << axis << "tics (";
    for (size_t i = 0; i < n; ++i) s << (i ? ", " : "") << Quote(i < labels.size() ? labels[i] : std::to_string(i)) << " " << i;
    s << ")" << (axis == "x" && n > 8 ? " rotate by 45 right" : "") << "\n";
  };
  s << "set title " << Quote(chart.title) << "\nset xlabel " << Quote(chart.xlabel) << "\nset ylabel "
    << Quote(chart.ylabel) << "\nset size square\nunset key\nset tics scale 0\n"
    << "set xrange [-0.5:" << Number(columns - 0.5) << "]\nset yrange [" << Number(rows - 0.5) << ":-0.5]\n"
    << "set cbrange [0:" << Number(top > 0 ? top : 1) << "]\n"
    << "set palette defined (0 '#ffffff', 1 '#6baed6', 2 '#08306b')\n";
  tics("x", chart.column_labels, columns);
  tics("y", chart.row_labels, rows);
  const std::string half = Number(top / 2);
  s << "plot $m matrix with image, \\\n     $m matrix using 1:2:(sprintf('%g', $3)):($3 > " << half
    << " ? 0xffffff : 0x000000) with labels tc rgb variable font ',9'\n";
  return Render(s.str(), base, image, options);
}

}  // namespace chorus::plot
