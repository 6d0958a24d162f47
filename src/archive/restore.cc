// Restore: replay the archive into a new embedded store through a bulk importer, which keeps
// every field as archived.
#include "evs/archive.h"
#include "store/log/log_importer.h"
#include "store/sqlite_importer.h"

namespace evs {
namespace {

template <class Importer>
class ImportHandler final : public EventHandler {
 public:
  explicit ImportHandler(Importer& importer) : importer_(importer) {}
  Status Handle(std::span<const RecordedEvent> batch) override { return importer_.Add(batch); }

 private:
  Importer& importer_;
};

Status CheckRestoreOptions(const ReplayOptions& options) {
  if (options.from != 1) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "a restore starts at position 1 (a store's positions begin there); got "
                       "--from " +
                           std::to_string(options.from));
  }
  if (options.upcaster) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "a restore copies events as they were stored, never upcast (stored events "
                       "never change); readers of the restored store upcast them");
  }
  return OkStatus();
}

template <class Importer>
Result<ReplayResult> Restore(ArchiveReader& archive, const ReplayOptions& options,
                             Importer& importer) {
  ImportHandler<Importer> handler(importer);
  auto replayed = archive.Replay(options, handler);
  if (!replayed.ok()) return replayed.error();
  if (auto s = importer.Finish(); !s) return s.error();
  return replayed;
}

}  // namespace

Result<ReplayResult> RestoreSqliteEventStore(ArchiveReader& archive, const ReplayOptions& options,
                                             const std::string& store_path) {
  if (auto s = CheckRestoreOptions(options); !s) return s.error();
  auto importer = store::SqliteImporter::Create(store_path);
  if (!importer.ok()) return importer.error();
  return Restore(archive, options, **importer);
}

Result<ReplayResult> RestoreLogEventStore(ArchiveReader& archive, const ReplayOptions& options,
                                          const std::string& folder) {
  if (auto s = CheckRestoreOptions(options); !s) return s.error();
  auto importer = store::log::LogImporter::Create(folder);
  if (!importer.ok()) return importer.error();
  return Restore(archive, options, **importer);
}

}  // namespace evs
