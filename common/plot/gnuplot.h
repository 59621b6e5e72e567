// Charts drawn by gnuplot (Debian's gnuplot-nox): a chart is written as a
// self-contained gnuplot script, NAME.gp next to the image, its data inline
// (datablocks), and gnuplot renders it to NAME.png (pngcairo when this
// gnuplot has it, else the libgd png terminal) or NAME.svg. Re-running
// `gnuplot NAME.gp` draws the same image again.
//
//   Panels  line charts, one or more in a grid: series of (x, y) points,
//           linear, log or probit (normal deviate, for DET curves) axes.
//   Matrix  a heat map with the count in each cell (confusion matrices).
//
// A missing gnuplot is FailedPrecondition ("gnuplot is not installed ...");
// a failing one is Internal with its message. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/util/status.h"

namespace chorus::plot {

struct PlotOptions {
  std::string format = "png";   // png | svg
  int width = 900, height = 650;  // pixels
  std::string gnuplot = "gnuplot";  // the program (found on PATH)
  std::chrono::milliseconds timeout{60000};
};

// png or svg; anything else is an InvalidArgument.
Status CheckFormat(const std::string& format);

enum class Scale { kLinear, kLog, kProbit };

struct Series {
  Series() = default;
  explicit Series(std::string title_, std::vector<double> x_ = {}, std::vector<double> y_ = {},
                  std::string style_ = "lines")
      : title(std::move(title_)), x(std::move(x_)), y(std::move(y_)), style(std::move(style_)) {}
  std::string title;
  std::vector<double> x, y;  // same length
  std::string style = "lines";  // a gnuplot style: lines, linespoints, points
  bool dashed = false;
};

struct Panel {
  Panel() = default;
  Panel(std::string title_, std::string xlabel_, std::string ylabel_)
      : title(std::move(title_)), xlabel(std::move(xlabel_)), ylabel(std::move(ylabel_)) {}
  std::string title, xlabel, ylabel;
  std::vector<Series> series;
  Scale xscale = Scale::kLinear, yscale = Scale::kLinear;
  std::optional<std::pair<double, double>> xrange, yrange;
  bool square = false;      // equal axis lengths (ROC, DET)
  bool diagonal = false;    // the line y = x (chance on a ROC, EER on a DET)
  std::string key = "bottom right";  // where the legend goes
};

struct MatrixChart {
  std::string title, xlabel, ylabel;
  std::vector<std::string> row_labels, column_labels;
  std::vector<std::vector<double>> values;  // [row][column]
};

// Writes `path_without_extension`.gp and .png/.svg; returns the image path.
// rows x columns panels (filled row by row).
Result<std::string> DrawPanels(const std::vector<Panel>& panels, int rows, int columns,
                               const std::string& path_without_extension, const PlotOptions& options);
Result<std::string> DrawMatrix(const MatrixChart& chart, const std::string& path_without_extension,
                               const PlotOptions& options);

// True when `options.gnuplot` can be run (cached per program name).
bool GnuplotAvailable(const PlotOptions& options);

}  // namespace chorus::plot
