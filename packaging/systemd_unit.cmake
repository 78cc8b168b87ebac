# Runs when an install runs (install(CODE) in packaging/CMakeLists.txt), once the prefix is
# known: writes the systemd unit SHORTLINK_UNIT_SOURCE to SHORTLINK_UNIT_OUTPUT with ExecStart
# naming the binary in SHORTLINK_UNIT_BINDIR under CMAKE_INSTALL_PREFIX instead of the sample's
# /usr/local/bin.
set(sample_exec_start "ExecStart=/usr/local/bin/shortlink ")
file(READ "${SHORTLINK_UNIT_SOURCE}" unit)
string(FIND "${unit}" "\n${sample_exec_start}" found)
if(found EQUAL -1)
  message(FATAL_ERROR "${SHORTLINK_UNIT_SOURCE}: no '${sample_exec_start}' line to point at the "
    "installed binary")
endif()
if(IS_ABSOLUTE "${SHORTLINK_UNIT_BINDIR}")
  set(bindir "${SHORTLINK_UNIT_BINDIR}")
else()
  set(bindir "${CMAKE_INSTALL_PREFIX}/${SHORTLINK_UNIT_BINDIR}")
endif()
string(REPLACE "\n${sample_exec_start}" "\nExecStart=${bindir}/shortlink " unit "${unit}")
file(WRITE "${SHORTLINK_UNIT_OUTPUT}" "${unit}")
