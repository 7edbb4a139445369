#include "rnn/workspace_impl.h"

namespace lstmrt {

Workspace::Workspace() : state_(new WorkspaceState()) {}
Workspace::~Workspace() = default;

}  // namespace lstmrt
