#include "scenarios/scenario.h"

#include <string.h>

static const lab_scenario *const all[] = {
    &lab_scenario_micro,   &lab_scenario_growth,    &lab_scenario_range,
    &lab_scenario_oversub, &lab_scenario_churn,     &lab_scenario_zipf,
    &lab_scenario_mixed,   &lab_scenario_strings,  &lab_scenario_coldstart,
    &lab_scenario_coldstart_presized,
};

const lab_scenario *const *lab_scenarios_all(size_t *count)
{
    *count = sizeof all / sizeof all[0];
    return all;
}

const lab_scenario *lab_scenario_find(const char *name)
{
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(all[i]->name, name) == 0)
            return all[i];
    return NULL;
}
