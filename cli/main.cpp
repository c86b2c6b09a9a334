// flotilla: the Flotilla command-line client (see cli/README.md).
#include "cli/app.h"

int main(int argc, char** argv) {
  return flotilla::cli::run(argc, argv);
}
