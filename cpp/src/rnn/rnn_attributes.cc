// Names and counts of the three cells.
#include "lstmrt/rnn_layer.h"

namespace lstmrt {

const char* cell_name(CellKind cell) {
  switch (cell) {
    case CellKind::LSTM:
      return "LSTM";
    case CellKind::GRU:
      return "GRU";
    case CellKind::RNN:
      return "RNN";
  }
  return "?";
}

const char* direction_name(Direction direction) {
  switch (direction) {
    case Direction::Forward:
      return "forward";
    case Direction::Reverse:
      return "reverse";
    case Direction::Bidirectional:
      return "bidirectional";
  }
  return "?";
}

int gate_count(CellKind cell) {
  switch (cell) {
    case CellKind::LSTM:
      return 4;
    case CellKind::GRU:
      return 3;
    case CellKind::RNN:
      return 1;
  }
  return 0;
}

int activation_count(CellKind cell) {
  switch (cell) {
    case CellKind::LSTM:
      return 3;
    case CellKind::GRU:
      return 2;
    case CellKind::RNN:
      return 1;
  }
  return 0;
}

}  // namespace lstmrt
