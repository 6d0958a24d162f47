# Doxygen input filter for include/evs: the headers use plain // comments (LevelDB's style);
# this turns them into doc comments as doxygen reads them, without changing the headers:
#   the comment block that opens a file      -> /// @file + the block (the file's description)
#   // before a declaration                  -> ///
#   a trailing // after a member or value    -> ///<
# "<" and ">" in comment text are escaped, so "<name>" is text, not an HTML tag.
function escape(text) { gsub(/</, "\\<", text); gsub(/>/, "\\>", text); return text }
NR == 1 { in_head = 1 }
in_head && /^\/\// { if (!file_done) { print "/// @file"; file_done = 1 }
                     print "///" escape(substr($0, 3)); next }
{ in_head = 0 }
/^[ \t]*\/\/( |$)/ { i = index($0, "//"); print substr($0, 1, i - 1) "///" escape(substr($0, i + 2)); next }
match($0, /[;,{}][ \t]+\/\/( |$)/) {
  i = RSTART + 1; j = index(substr($0, i), "//") + i - 1
  print substr($0, 1, j - 1) "///<" escape(substr($0, j + 2)); next
}
{ print }
