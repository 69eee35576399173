/* The shape of one parameter of the effect; the table itself (dcvsr_settings.h) is generated at
 * build time from the settings description by tools/gen_settings_header.py. */
#ifndef DCVSR_PARAMS_H
#define DCVSR_PARAMS_H

#include <stddef.h>

typedef enum { DCVSR_PARAM_CHOICE, DCVSR_PARAM_INT, DCVSR_PARAM_STRING } dcvsr_param_kind;

typedef struct {
    const char *name;     /* the parameter's name and the session setting it feeds */
    const char *label;
    const char *hint;
    dcvsr_param_kind kind;
    double default_value; /* CHOICE: the default option's index */
    double minimum, maximum;
    const char *const *choices;
    int n_choices;
} dcvsr_param_spec;

#endif
