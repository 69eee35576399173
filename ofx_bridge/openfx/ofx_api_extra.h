/* Declarations the effect needs beyond ofx_api.h's groups ("ofxParam.h": double parameters). */
#ifndef DCVSR_OFX_API_EXTRA_H
#define DCVSR_OFX_API_EXTRA_H
#define kOfxParamTypeDouble "OfxParamTypeDouble"
#endif
