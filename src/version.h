/* version: the one place the release number is written. CMake and scripts/release read it;
 * spec/version_spec.lua checks that the release rockspec, mmc._VERSION, the mmc command and
 * CHANGELOG.md agree with it. */
#ifndef MMC_VERSION_H
#define MMC_VERSION_H

#define MMC_VERSION "0.1.0"

#endif
