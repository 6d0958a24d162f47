#include "cli/personal_data_commands.h"

#include <iostream>

#include "cli/output.h"

namespace evs::cli {
namespace {

struct ForgetArgs {
  std::string subject;
};

// Opens the key store alone, not the event store: it works beside a running evs serve, whose
// reads see the key gone at once (keys are not cached).
int RunForget(const GlobalOptions& global, const ForgetArgs& args) {
  if (Status s = ValidateSubject(args.subject); !s.ok()) return ReportError(global, s.error());
  auto keys = OpenKeyStore(global);
  if (!keys.ok()) {
    if (keys.error().code != ErrorCode::kNotFound) return ReportError(global, keys.error());
    return ReportError(global, Error::Make(ErrorCode::kNotFound,
                                           "subject '" + args.subject +
                                               "' is unknown: no personal data was ever sealed "
                                               "here (" +
                                               keys.error().message + ")"));
  }
  auto forgotten = (*keys)->Forget(args.subject);
  if (!forgotten.ok()) return ReportError(global, forgotten.error());
  if (global.json) {
    PrintJson({{"subject", args.subject}, {"forgotten", true}, {"already_forgotten", !*forgotten}});
  } else if (*forgotten) {
    std::cout << "forgot subject " << args.subject << ": its personal data now reads as "
              << kRedacted << '\n';
  } else {
    std::cout << "subject " << args.subject << " was already forgotten\n";
  }
  return kExitOk;
}

}  // namespace

void AddPersonalDataCommands(CLI::App& app, const GlobalOptions& global, Command& command) {
  auto args = std::make_shared<ForgetArgs>();
  CLI::App* forget = app.add_subcommand(
      "forget",
      "Forget a data subject (e.g. a customer id): destroy its key, so that its personal data, "
      "in every copy of every event, reads as " +
          std::string(kRedacted));
  forget->add_option("subject", args->subject, "The subject's id")->required();
  RunWhenSelected(forget, global, command, args, &RunForget);
}

}  // namespace evs::cli
